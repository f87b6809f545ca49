//! Creating one sandbox: cgroups, `clone3` into fresh namespaces, uid/gid maps, cgroup join,
//! `oom_score_adj`, then releasing the child, which becomes the agent.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::helper::{Helper, HelperProcess};
use super::{Record, Spawner};
use crate::agent::{self, ChildContext, SANDBOX_ID};
use crate::cgroup::SandboxCgroups;
use crate::protocol::{CgroupMode, CgroupPaths, RemoteError};
use crate::spec::SandboxSpec;
use crate::sys;

/// Namespaces of every sandbox. (No time namespace: nothing needs it and it would only add
/// setup cost.)
pub(super) const NAMESPACES: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u64;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of `clone3(2)`.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

fn remote(step: impl Into<String>) -> impl FnOnce(io::Error) -> RemoteError {
    let step = step.into();
    move |err| RemoteError::new(step, &err)
}

/// `clone3`; returns 0 in the child, else (pid, pidfd) in the parent.
pub(super) fn clone3(
    flags: u64,
    cgroup: Option<&OwnedFd>,
) -> io::Result<Option<(libc::pid_t, OwnedFd)>> {
    let mut pidfd: libc::c_int = -1;
    let mut args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        // With CLONE_PARENT the kernel requires 0 here and uses the caller's own exit signal
        // (SIGCHLD, as the helper was forked).
        exit_signal: if flags & libc::CLONE_PARENT as u64 != 0 {
            0
        } else {
            libc::SIGCHLD as u64
        },
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: the spawner is single-threaded and clone3 without CLONE_VM behaves like fork:
    // the child gets a private copy of memory and continues on the same stack. `args` is a
    // valid clone_args of the size given, and `pidfd` outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match sys::cvt_long(ret)? {
        0 => Ok(None),
        // SAFETY: CLONE_PIDFD stored a new descriptor that we own.
        pid => Ok(Some((pid as libc::pid_t, unsafe {
            OwnedFd::from_raw_fd(pidfd)
        }))),
    }
}

impl Spawner {
    /// Creates a sandbox; returns its id, host uid base, cgroup paths and the host's end of
    /// the agent's control socket.
    pub(super) fn create(
        &mut self,
        spec: &SandboxSpec,
    ) -> Result<(String, u32, CgroupPaths, OwnedFd), RemoteError> {
        let mut helper = None;
        let (id, uid_base, cgroups) = match self.helper.take() {
            Some(ready) => {
                if let Err(err) = ready
                    .cgroups
                    .configure(spec.memory_bytes, spec.pids, spec.cpus)
                {
                    ready.process.kill();
                    ready.cgroups.remove();
                    return Err(RemoteError::new(
                        format!("set limits of {}", ready.id),
                        &err,
                    ));
                }
                helper = Some(ready.process);
                (ready.id, ready.uid_base, Some(ready.cgroups))
            }
            None => {
                let (id, uid_base) = self.allocate();
                let cgroups = match &self.layout {
                    Some(layout) if layout.mode != CgroupMode::None => Some(
                        layout
                            .create(&id, spec.memory_bytes, spec.pids, spec.cpus)
                            .map_err(remote(format!("create cgroups of {id}")))?,
                    ),
                    _ => None,
                };
                (id, uid_base, cgroups)
            }
        };
        let fail = |cgroups: &Option<SandboxCgroups>,
                    helper: Option<HelperProcess>,
                    step: &str,
                    err: io::Error| {
            if let Some(helper) = helper {
                helper.kill();
            }
            if let Some(cgroups) = cgroups {
                cgroups.remove();
            }
            RemoteError::new(step, &err)
        };
        let (control_host, control_agent) = match sys::seqpacket_pair() {
            Ok(pair) => pair,
            Err(err) => return Err(fail(&cgroups, helper, "socketpair", err)),
        };
        let (release_r, release_w) = match sys::pipe() {
            Ok(pair) => pair,
            Err(err) => return Err(fail(&cgroups, helper, "pipe", err)),
        };
        // The pre-joined helper clones from inside the cgroups; if it failed, clone here.
        let mut joined = false;
        let mut cloned = None;
        if let Some(helper) = helper {
            match helper.spawn(spec, &release_r, &control_agent) {
                Ok(parent) => {
                    joined = true;
                    cloned = Some(Ok(Some(parent)));
                }
                Err(err) => {
                    tracing::debug!(%id, %err, "pre-joined helper failed; cloning directly")
                }
            }
        }
        let cgroup_fd = if joined {
            None
        } else {
            cgroups.as_ref().and_then(|c| c.unified_fd())
        };
        // CLONE_INTO_CGROUP saves a slow cgroup.procs write; older kernels refuse it.
        let mut into_cgroup = cgroup_fd.is_some();
        let cloned = cloned.unwrap_or_else(|| match clone3(NAMESPACES, cgroup_fd.as_ref()) {
            Err(err)
                if into_cgroup
                    && matches!(
                        err.raw_os_error(),
                        Some(libc::EINVAL) | Some(libc::E2BIG) | Some(libc::EOPNOTSUPP)
                    ) =>
            {
                into_cgroup = false;
                clone3(NAMESPACES, None)
            }
            other => other,
        });
        let (pid, pidfd) = match cloned {
            Ok(Some(parent)) => parent,
            Ok(None) => agent::child_main(ChildContext {
                spec,
                release: release_r.as_raw_fd(),
                control: control_agent.as_raw_fd(),
                seccomp: &self.seccomp,
            }),
            Err(err) => {
                return Err(fail(
                    &cgroups,
                    None,
                    &format!("clone3 namespaces of {id}"),
                    err,
                ))
            }
        };
        drop(release_r);
        drop(control_agent);
        let record = Record {
            pid,
            pidfd,
            cgroups,
        };
        let paths = record
            .cgroups
            .as_ref()
            .map(|c| c.paths())
            .unwrap_or_default();
        // From here on the child exists: on failure, destroy it like any sandbox.
        self.sandboxes.insert(id.clone(), record);
        match self.release(
            pid,
            uid_base,
            joined,
            into_cgroup,
            &id,
            release_w.as_raw_fd(),
        ) {
            Ok(()) => Ok((id, uid_base, paths, control_host)),
            Err(err) => {
                self.destroy(&id);
                Err(err)
            }
        }
    }

    /// A new sandbox id and host uid base (never reused within this spawner).
    fn allocate(&mut self) -> (String, u32) {
        let slot = self.next;
        self.next += 1;
        let uid_base = self.uid_origin.wrapping_add((slot as u32).wrapping_mul(2));
        (format!("sb{slot}"), uid_base)
    }

    /// Prepares the pre-joined helper for the next creation (v1 hosts only: v2 has
    /// `CLONE_INTO_CGROUP`). Failures only cost the optimisation.
    pub(super) fn refill_helper(&mut self) {
        let v1 = matches!(
            self.layout.as_ref().map(|l| l.mode),
            Some(CgroupMode::V1 | CgroupMode::Hybrid)
        );
        if self.helper.is_some() || !v1 {
            return;
        }
        let (id, uid_base) = self.allocate();
        let Some(layout) = &self.layout else { return };
        let cgroups = match layout.create_dirs(&id) {
            Ok(cgroups) => cgroups,
            Err(err) => {
                tracing::debug!(%id, %err, "no pre-joined helper");
                return;
            }
        };
        match Helper::fork(id, uid_base, cgroups, &self.seccomp) {
            Ok(helper) => self.helper = Some(helper),
            Err(err) => tracing::debug!(%err, "no pre-joined helper"),
        }
    }

    /// Maps the ids, joins the cgroups, protects the agent from the OOM killer and lets it go
    /// on. The rootfs is built by the child between the two release bytes, in parallel with
    /// the (sometimes slow) cgroup join here.
    fn release(
        &self,
        pid: libc::pid_t,
        uid_base: u32,
        joined: bool,
        into_cgroup: bool,
        id: &str,
        release: i32,
    ) -> Result<(), RemoteError> {
        // 0 -> base (the namespace's root, used only during setup), 1000 -> base + 1.
        let map = format!("0 {uid_base} 1\n{SANDBOX_ID} {} 1\n", uid_base + 1);
        sys::write_file(&format!("/proc/{pid}/uid_map"), &map)
            .map_err(remote(format!("write uid_map of {id}")))?;
        sys::write_file(&format!("/proc/{pid}/gid_map"), &map)
            .map_err(remote(format!("write gid_map of {id}")))?;
        sys::write_all(release, b"m").map_err(remote(format!("release {id}")))?;
        if let Some(cgroups) = self
            .sandboxes
            .get(id)
            .and_then(|r| r.cgroups.as_ref())
            .filter(|_| !joined)
        {
            cgroups
                .join(pid, into_cgroup)
                .map_err(remote(format!("join cgroups of {id}")))?;
        }
        // Lowering needs CAP_SYS_RESOURCE, which some hosts withhold even from root; then the
        // agent stays at 0 and the commands' +500 (see agent::command) still makes the OOM
        // killer pick them.
        if let Err(err) = sys::write_file(&format!("/proc/{pid}/oom_score_adj"), "-1000") {
            tracing::debug!(%id, %err, "cannot protect the agent with oom_score_adj -1000");
        }
        sys::write_all(release, b"g").map_err(remote(format!("release {id}")))?;
        Ok(())
    }
}
