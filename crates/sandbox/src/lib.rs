//! runnel-sandbox: real kernel isolation for every run and session.
//!
//! A sandbox is a user, mount, pid, net (loopback only), ipc, uts and cgroup namespace set with
//! a read-only root built from binds, a private `/proc`, its own devpts, tmpfs `/tmp` and
//! `/work`, uid 1000 with no capabilities, `no_new_privs`, Landlock and seccomp, and cgroup
//! memory / pids / CPU limits. See `docs/sandbox.md` for the jail steps in order.
//!
//! # Layout
//! - Host side (async, inside the server; never forks): [`Spawner`] (`host::spawner`),
//!   [`Sandbox`] (`host::sandbox`), [`Process`] (`host::process`), [`PtyMaster`]
//!   (`host::pty`), the agent connection (`host::conn`), symlink-proof file transfer
//!   (`host::files`).
//! - Spawner process (single-threaded, this binary re-executed with `__spawner`): `spawner`
//!   (request loop, clone3, uid maps, cgroup join, the pre-joined helper) and `cgroup`.
//! - Inside the sandbox: `agent` (PID 1: setup, privilege drop, command fork/exec, reaping),
//!   `rootfs`, `landlock_policy`, `seccomp`.
//! - Shared: `protocol` (messages), `ipc` (seqpacket + `SCM_RIGHTS`), `sys` (syscall helpers),
//!   `probe` ([`doctor`]).
//!
//! Call [`run_spawner_if_requested`] first thing in `main()` of any binary used as
//! [`HostConfig::spawner_exe`].

pub mod spec;

mod agent;
mod cgroup;
mod error;
mod host;
mod ipc;
mod landlock_policy;
mod probe;
mod protocol;
mod rootfs;
mod seccomp;
mod spawner;
mod sys;

pub use cgroup::Counters;
pub use error::SandboxError;
pub use host::process::{ExtraEnd, Process};
pub use host::pty::PtyMaster;
pub use host::sandbox::{Meter, Sandbox};
pub use host::spawner::{Spawner, SpawnerHealth};
pub use probe::{doctor, Check, DoctorReport};
pub use protocol::{Capabilities, CgroupMode, Missing};
pub use spec::*;

/// Call first thing in `main()`, before tokio or any thread starts: if `argv[1]` is
/// `__spawner`, runs the spawner loop and exits the process; otherwise returns.
pub fn run_spawner_if_requested() {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() != Some(std::ffi::OsStr::new("__spawner")) {
        return;
    }
    let code = spawner::main();
    std::process::exit(code);
}

/// Raise this process's soft limit on open files to its hard limit (servers hold one file
/// descriptor per connection; the soft default of 1024 is far below what the hard limit
/// allows). Returns the soft limit in force afterwards.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let (soft, hard) = sys::get_rlimit(libc::RLIMIT_NOFILE)?;
    if soft < hard {
        sys::set_rlimit(libc::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(soft.max(hard))
}
