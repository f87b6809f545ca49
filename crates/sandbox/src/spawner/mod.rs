//! The spawner: a single-threaded process (this binary re-executed with `__spawner`) that does
//! every clone, uid map and cgroup write, so the multi-threaded server never forks.
//!
//! It serves one request at a time on a seqpacket socket inherited as fd 3. It watches each
//! agent's pidfd: a sandbox whose agent died is cleaned up (cgroups killed and removed) without
//! being asked. When the server closes the socket (it exited or crashed) the spawner destroys
//! every sandbox and removes its cgroup directories before exiting.

mod clone;
mod helper;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use seccompiler::BpfProgram;

use crate::cgroup::{Layout, SandboxCgroups};
use crate::ipc;
use crate::protocol::{RemoteError, SpawnerReply, SpawnerRequest};
use crate::sys;

/// The descriptor number of the server socket in the spawner.
pub(crate) const SOCKET_FD: RawFd = 3;

/// One live sandbox, seen from the spawner.
struct Record {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    cgroups: Option<SandboxCgroups>,
}

struct Spawner {
    socket: OwnedFd,
    layout: Option<Layout>,
    seccomp: Vec<BpfProgram>,
    sandboxes: BTreeMap<String, Record>,
    /// The pre-joined helper for the next creation (cgroup v1 only).
    helper: Option<helper::Helper>,
    next: u64,
    /// First host uid of this instance's range (two uids per sandbox, never reused).
    uid_origin: u32,
}

/// Runs the spawner until the server goes away. Returns the exit code.
pub(crate) fn main() -> i32 {
    // SAFETY: fd 3 was set up by `Spawner::start` as our end of the socket pair; we own it.
    let socket = unsafe { OwnedFd::from_raw_fd(SOCKET_FD) };
    // SAFETY: F_SETFD on our own descriptor.
    unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let nonce: u32 = rand::random();
    let instance = format!("{pid}-{nonce:08x}");

    let capabilities = crate::probe::probe();
    let layout = match Layout::prepare(&instance) {
        Ok(layout) => Some(layout),
        Err(err) => {
            tracing::warn!(%err, "no cgroups for sandboxes");
            None
        }
    };
    let seccomp = match crate::seccomp::build() {
        Ok(programs) => programs,
        Err(err) => {
            let reply = SpawnerReply::Failed(RemoteError::new(
                "compile seccomp filter",
                &io::Error::other(err.to_string()),
            ));
            let _ = ipc::send(socket.as_raw_fd(), &reply, &[]);
            return 1;
        }
    };
    if ipc::send(
        socket.as_raw_fd(),
        &SpawnerReply::Hello { capabilities },
        &[],
    )
    .is_err()
    {
        return 1;
    }
    // Host uids for the sandboxes: a random, even origin well above normal users, so two
    // spawners (say, two test binaries) are very unlikely to share one.
    let uid_origin = 0x0100_0000 + (rand::random::<u32>() % 0x3000_0000) * 2;
    let mut spawner = Spawner {
        socket,
        layout,
        seccomp,
        sandboxes: BTreeMap::new(),
        helper: None,
        next: 0,
        uid_origin,
    };
    spawner.refill_helper();
    let code = spawner.serve();
    spawner.destroy_all();
    code
}

impl Spawner {
    fn serve(&mut self) -> i32 {
        loop {
            let ids: Vec<String> = self.sandboxes.keys().cloned().collect();
            let mut fds = vec![libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            fds.extend(self.sandboxes.values().map(|r| libc::pollfd {
                fd: r.pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }));
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
            let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if ret < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return 1;
            }
            for (pollfd, id) in fds[1..].iter().zip(&ids) {
                if pollfd.revents != 0 {
                    tracing::debug!(%id, "agent exited; cleaning up");
                    self.destroy(id);
                }
            }
            if fds[0].revents != 0 {
                let request = match ipc::recv::<SpawnerRequest>(self.socket.as_raw_fd()) {
                    Ok(Some((request, _fds))) => request,
                    Ok(None) => return 0,
                    Err(err) => {
                        tracing::error!(%err, "spawner socket");
                        return 1;
                    }
                };
                if let SpawnerRequest::Shutdown = request {
                    self.destroy_all();
                    let _ = ipc::send(self.socket.as_raw_fd(), &SpawnerReply::Done, &[]);
                    return 0;
                }
                let (reply, fds) = self.handle(request);
                let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
                if ipc::send(self.socket.as_raw_fd(), &reply, &raw).is_err() {
                    return 1;
                }
                // After replying: the helper's slow cgroup join overlaps the server's work.
                self.refill_helper();
            }
        }
    }

    fn handle(&mut self, request: SpawnerRequest) -> (SpawnerReply, Vec<OwnedFd>) {
        match request {
            SpawnerRequest::Create { spec } => match self.create(&spec) {
                Ok((id, uid_base, cgroups, control)) => (
                    SpawnerReply::Created {
                        id,
                        uid_base,
                        cgroups,
                    },
                    vec![control],
                ),
                Err(err) => (SpawnerReply::Failed(err), Vec::new()),
            },
            SpawnerRequest::SetLimits {
                id,
                memory_bytes,
                pids,
            } => {
                let result = match self.sandboxes.get(&id).and_then(|r| r.cgroups.as_ref()) {
                    Some(cgroups) => cgroups.set_limits(memory_bytes, pids),
                    None => Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "no such sandbox or no cgroups",
                    )),
                };
                match result {
                    Ok(()) => (SpawnerReply::Done, Vec::new()),
                    Err(err) => (
                        SpawnerReply::Failed(RemoteError::new(format!("set limits of {id}"), &err)),
                        Vec::new(),
                    ),
                }
            }
            SpawnerRequest::Destroy { id } => {
                self.destroy(&id);
                (SpawnerReply::Done, Vec::new())
            }
            SpawnerRequest::Shutdown => (SpawnerReply::Done, Vec::new()),
        }
    }

    /// Kills sandbox `id` (pid 1 first, which takes its whole pid namespace down, then the
    /// cgroup), reaps the agent and removes the cgroups. Unknown ids are fine (idempotent).
    fn destroy(&mut self, id: &str) {
        let Some(record) = self.sandboxes.remove(id) else {
            return;
        };
        let _ = sys::pidfd_send_signal(record.pidfd.as_raw_fd(), libc::SIGKILL);
        if let Some(cgroups) = &record.cgroups {
            cgroups.kill_all();
        }
        let mut status = 0;
        // SAFETY: reaping our own child; `status` is a valid out-pointer. The namespace's init
        // is reaped only after every process of its namespace is gone.
        while unsafe { libc::waitpid(record.pid, &mut status, libc::__WALL) } < 0 {
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break;
            }
        }
        if let Some(cgroups) = &record.cgroups {
            cgroups.remove();
        }
        tracing::debug!(%id, "sandbox destroyed");
    }

    fn destroy_all(&mut self) {
        if let Some(helper) = self.helper.take() {
            helper.process.kill();
            helper.cgroups.remove();
        }
        let ids: Vec<String> = self.sandboxes.keys().cloned().collect();
        for id in ids {
            self.destroy(&id);
        }
        if let Some(layout) = &self.layout {
            layout.remove();
        }
    }
}
