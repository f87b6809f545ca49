//! The pre-joined helper: hides the cgroup v1 join cost.
//!
//! Moving a task into a cgroup (writing `cgroup.procs`) costs an RCU grace period when no
//! migration happened recently: about 8–10 ms on these hosts, most of a sandbox's creation
//! time. cgroup v2 avoids it with `clone3(CLONE_INTO_CGROUP)`; v1 has no such flag. So after
//! each creation the spawner forks a helper that creates the *next* sandbox's cgroups and moves
//! itself into them while nobody waits. The next `create` only sets the limits and asks the
//! helper to `clone3(CLONE_PARENT | namespaces)`: the agent is born inside its cgroups and is
//! still the spawner's child. The helper then exits.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use seccompiler::BpfProgram;
use serde::{Deserialize, Serialize};

use super::clone::{clone3, NAMESPACES};
use crate::agent::{self, ChildContext};
use crate::cgroup::SandboxCgroups;
use crate::ipc;
use crate::protocol::RemoteError;
use crate::spec::SandboxSpec;
use crate::sys;

/// A helper waiting (or about to wait) inside the cgroups of the next sandbox.
pub(super) struct Helper {
    pub(super) id: String,
    pub(super) uid_base: u32,
    pub(super) cgroups: SandboxCgroups,
    pub(super) process: HelperProcess,
}

/// The helper process and the spawner's end of its socket.
pub(super) struct HelperProcess {
    pid: libc::pid_t,
    socket: OwnedFd,
}

#[derive(Debug, Serialize, Deserialize)]
enum Message {
    /// Helper: I am inside the cgroups.
    Ready,
    /// Spawner: clone the agent (release pipe and control socket attached).
    Spawn {
        spec: SandboxSpec,
    },
    /// Helper: done (the agent's pidfd attached).
    Spawned {
        pid: libc::pid_t,
    },
    Failed(RemoteError),
}

impl Helper {
    /// Forks a helper that moves itself into `cgroups`; the spawner does not wait for it.
    pub(super) fn fork(
        id: String,
        uid_base: u32,
        cgroups: SandboxCgroups,
        seccomp: &[BpfProgram],
    ) -> io::Result<Helper> {
        let (mine, theirs) = sys::seqpacket_pair()?;
        // SAFETY: the spawner is single-threaded, so the child may run ordinary code; it never
        // returns from `helper_main`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            helper_main(theirs.as_raw_fd(), &cgroups, seccomp);
        }
        drop(theirs);
        Ok(Helper {
            id,
            uid_base,
            cgroups,
            process: HelperProcess { pid, socket: mine },
        })
    }
}

impl HelperProcess {
    /// Has the helper clone the agent. Returns the agent's pid and pidfd.
    pub(super) fn spawn(
        self,
        spec: &SandboxSpec,
        release: &OwnedFd,
        control: &OwnedFd,
    ) -> io::Result<(libc::pid_t, OwnedFd)> {
        let result = self.try_spawn(spec, release, control);
        if result.is_err() {
            // SAFETY: kill has no memory effects; the helper is our child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        self.reap();
        result
    }

    fn try_spawn(
        &self,
        spec: &SandboxSpec,
        release: &OwnedFd,
        control: &OwnedFd,
    ) -> io::Result<(libc::pid_t, OwnedFd)> {
        let fail = |what: &str| io::Error::other(format!("helper: {what}"));
        match ipc::recv::<Message>(self.socket.as_raw_fd())? {
            Some((Message::Ready, _)) => {}
            Some((Message::Failed(err), _)) => return Err(err.into_io()),
            _ => return Err(fail("no ready")),
        }
        ipc::send(
            self.socket.as_raw_fd(),
            &Message::Spawn { spec: spec.clone() },
            &[release.as_raw_fd(), control.as_raw_fd()],
        )?;
        match ipc::recv::<Message>(self.socket.as_raw_fd())? {
            Some((Message::Spawned { pid }, mut fds)) if fds.len() == 1 => {
                Ok((pid, fds.pop().expect("length checked")))
            }
            Some((Message::Failed(err), _)) => Err(err.into_io()),
            _ => Err(fail("no spawned")),
        }
    }

    /// Kills and reaps a helper that will not be used.
    pub(super) fn kill(self) {
        // SAFETY: kill has no memory effects; the helper is our child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.reap();
    }

    fn reap(&self) {
        let mut status = 0;
        // SAFETY: reaping our own child into a valid out-pointer.
        while unsafe { libc::waitpid(self.pid, &mut status, 0) } < 0 {
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
    }
}

fn helper_main(socket: RawFd, cgroups: &SandboxCgroups, seccomp: &[BpfProgram]) -> ! {
    // SAFETY: prctl with integer arguments; the helper dies with the spawner.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    agent::close_inherited(&[socket]);
    let code = match helper_serve(socket, cgroups, seccomp) {
        Ok(()) => 0,
        Err(err) => {
            let _ = ipc::send(socket, &Message::Failed(err), &[]);
            1
        }
    };
    // SAFETY: _exit never returns and skips the spawner's inherited destructors.
    unsafe { libc::_exit(code) }
}

fn helper_serve(
    socket: RawFd,
    cgroups: &SandboxCgroups,
    seccomp: &[BpfProgram],
) -> Result<(), RemoteError> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    cgroups
        .join(me, false)
        .map_err(|e| RemoteError::new("helper joins cgroups", &e))?;
    ipc::send(socket, &Message::Ready, &[]).map_err(|e| RemoteError::new("helper ready", &e))?;
    let (message, fds) = match ipc::recv::<Message>(socket) {
        Ok(Some(pair)) => pair,
        Ok(None) => return Ok(()),
        Err(e) => return Err(RemoteError::new("helper receive", &e)),
    };
    let (Message::Spawn { spec }, [release, control]) = (message, fds.as_slice()) else {
        return Err(RemoteError::new(
            "helper receive",
            &io::Error::other("unexpected message"),
        ));
    };
    match clone3(NAMESPACES | libc::CLONE_PARENT as u64, None) {
        Ok(None) => agent::child_main(ChildContext {
            spec: &spec,
            release: release.as_raw_fd(),
            control: control.as_raw_fd(),
            seccomp,
        }),
        Ok(Some((pid, pidfd))) => {
            ipc::send(socket, &Message::Spawned { pid }, &[pidfd.as_raw_fd()])
                .map_err(|e| RemoteError::new("helper reply", &e))
        }
        Err(e) => Err(RemoteError::new("clone3 namespaces (from helper)", &e)),
    }
}
