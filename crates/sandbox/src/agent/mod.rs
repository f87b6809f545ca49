//! The agent: PID 1 of a sandbox's pid namespace, running as uid 1000 with no capabilities.
//!
//! It starts life as the spawner's `clone3` child, builds the sandbox (see [`crate::rootfs`]),
//! drops privileges, installs Landlock and seccomp, tells the host it is ready, then serves
//! the host's requests on its control socket: start a command (fork + exec, stdio or a pty
//! made here), signal or kill one, and report each exit with its resource usage. As init it
//! reaps every process of the sandbox, orphans included. When the host closes the socket the
//! agent exits, and the kernel kills everything left in its pid namespace.

mod command;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use seccompiler::BpfProgram;

use crate::ipc;
use crate::protocol::{AgentEvent, AgentRequest, RemoteError};
use crate::spec::SandboxSpec;
use crate::sys::{self, cvt};

/// The uid and gid commands run as inside the sandbox.
pub(crate) const SANDBOX_ID: u32 = 1000;
/// `RLIMIT_NOFILE` of the agent and its commands (the server's hard limit must be as high:
/// a user namespace cannot raise it).
pub(crate) const NOFILE: u64 = 4096;
/// Hard `RLIMIT_NPROC` of the agent; commands get their own, lower, limit. The host uid is
/// unique to the sandbox, so this only counts the sandbox's own tasks.
const NPROC_CAP: u64 = 65_536;

/// A failed setup step, reported to the host.
#[derive(Debug)]
pub(crate) struct StepError {
    pub(crate) step: String,
    pub(crate) source: io::Error,
}

/// What the spawner hands its clone child.
pub(crate) struct ChildContext<'a> {
    pub(crate) spec: &'a SandboxSpec,
    /// Read end of the release pipe: byte 1 once uid/gid maps are written, byte 2 once the
    /// cgroups are joined.
    pub(crate) release: RawFd,
    /// The agent's end of the control socket.
    pub(crate) control: RawFd,
    pub(crate) seccomp: &'a [BpfProgram],
}

fn os_step<T>(step: &str, result: io::Result<T>) -> Result<T, StepError> {
    result.map_err(|source| StepError {
        step: step.to_string(),
        source,
    })
}

/// Entry point in the clone child. Never returns.
pub(crate) fn child_main(ctx: ChildContext<'_>) -> ! {
    // SAFETY: prctl with integer arguments has no memory effects.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    // The spawner's stdio is the server's (a terminal, a log): the sandbox gets none of it.
    // SAFETY: open/dup2/close on descriptor numbers only; a failed open leaves stdio as is.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
    close_inherited(&[ctx.release, ctx.control]);
    // SAFETY: the descriptor was created by the spawner for this child and is owned here.
    let control = unsafe { OwnedFd::from_raw_fd(ctx.control) };
    match setup(&ctx) {
        Ok(work) => {
            if ipc::send(control.as_raw_fd(), &AgentEvent::Ready, &[work.as_raw_fd()]).is_err() {
                exit(1);
            }
            drop(work);
            let code = serve(control);
            exit(code)
        }
        Err(err) => {
            let _ = ipc::send(
                control.as_raw_fd(),
                &AgentEvent::SetupFailed(RemoteError::new(err.step, &err.source)),
                &[],
            );
            exit(1)
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit never returns and skips the spawner's inherited atexit handlers.
    unsafe { libc::_exit(code) }
}

/// Closes every descriptor inherited from the spawner except `keep`.
pub(crate) fn close_inherited(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().map(|fd| *fd as u32).collect();
    keep.sort_unstable();
    let mut from = 3u32;
    for fd in keep {
        if fd > from {
            // SAFETY: close_range only closes descriptors; none of these are used afterwards.
            unsafe { libc::close_range(from, fd - 1, 0) };
        }
        from = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::close_range(from, u32::MAX, 0) };
}

fn wait_release(fd: RawFd) -> Result<(), StepError> {
    let mut byte = [0u8; 1];
    match sys::read_some(fd, &mut byte) {
        Ok(1) => Ok(()),
        Ok(_) => Err(StepError {
            step: "wait for the spawner".into(),
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "spawner went away"),
        }),
        Err(source) => Err(StepError {
            step: "wait for the spawner".into(),
            source,
        }),
    }
}

fn setup(ctx: &ChildContext<'_>) -> Result<OwnedFd, StepError> {
    wait_release(ctx.release)?;
    // Until now our credentials were the host's root, unmapped here (mkdir would fail with
    // EOVERFLOW); the parent has written the maps, so become the namespace's root.
    os_step(
        "setgroups",
        // SAFETY: plain credential syscalls with integer arguments.
        cvt(unsafe { libc::setgroups(0, std::ptr::null()) }),
    )?;
    // SAFETY: as above.
    os_step("setresgid 0", cvt(unsafe { libc::setresgid(0, 0, 0) }))?;
    // SAFETY: as above.
    os_step("setresuid 0", cvt(unsafe { libc::setresuid(0, 0, 0) }))?;

    crate::rootfs::build(ctx.spec)?;
    crate::rootfs::loopback_up()?;
    let name = b"sandbox";
    os_step(
        "sethostname",
        // SAFETY: the pointer and length describe a live byte string.
        cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }),
    )?;

    // The parent joins our cgroups meanwhile; nothing of the user's may run before that.
    wait_release(ctx.release)?;
    // SAFETY: closing our copy of the release pipe; it is not used again.
    unsafe { libc::close(ctx.release) };

    // SAFETY: a valid path literal; the result is checked.
    let work = os_step(
        "open /work",
        sys::owned(unsafe {
            libc::open(
                c"/work".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        }),
    )?;

    // SAFETY: setsid has no memory effects.
    os_step("setsid", cvt(unsafe { libc::setsid() }))?;
    os_step("rlimit core", sys::set_rlimit(libc::RLIMIT_CORE, 0, 0))?;
    os_step(
        "rlimit nofile",
        sys::set_rlimit(libc::RLIMIT_NOFILE, NOFILE, NOFILE),
    )?;
    os_step(
        "rlimit nproc",
        sys::set_rlimit(libc::RLIMIT_NPROC, NPROC_CAP, NPROC_CAP),
    )?;

    // Empty the bounding set too, so nothing (not even a file capability) can bring a
    // capability back.
    for cap in 0..=63 {
        // SAFETY: prctl with integer arguments; unknown capability numbers just fail.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    // Drop to the sandbox user: all capabilities go with the uid change.
    os_step(
        "setgroups",
        // SAFETY: plain credential syscalls with integer arguments.
        cvt(unsafe { libc::setgroups(0, std::ptr::null()) }),
    )?;
    os_step(
        "setresgid 1000",
        // SAFETY: as above.
        cvt(unsafe { libc::setresgid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID) }),
    )?;
    os_step(
        "setresuid 1000",
        // SAFETY: as above.
        cvt(unsafe { libc::setresuid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID) }),
    )?;
    os_step(
        "no_new_privs",
        // SAFETY: prctl with integer arguments has no memory effects.
        cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }),
    )?;
    // The uid change cleared PDEATHSIG; re-arm it so the sandbox dies with the spawner.
    os_step(
        "pdeathsig",
        // SAFETY: as above.
        cvt(unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        }),
    )?;
    // Same uid as user code, so keep it from reading our memory or descriptors via /proc/1.
    os_step(
        "dumpable",
        // SAFETY: as above.
        cvt(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }),
    )?;

    match crate::landlock_policy::restrict() {
        Ok(enforced) => tracing::debug!(enforced, "landlock"),
        Err(err) => {
            return Err(StepError {
                step: "landlock".into(),
                source: io::Error::other(err.to_string()),
            })
        }
    }
    os_step("seccomp", crate::seccomp::install(ctx.seccomp))?;
    Ok(work)
}

/// Commands running, by pid and by the host's id.
struct Table {
    by_pid: HashMap<libc::pid_t, u64>,
    by_id: HashMap<u64, libc::pid_t>,
}

/// The serve loop. Returns the exit code.
fn serve(control: OwnedFd) -> i32 {
    let sigfd = match command::child_signalfd() {
        Ok(fd) => fd,
        Err(_) => return 1,
    };
    let mut table = Table {
        by_pid: HashMap::new(),
        by_id: HashMap::new(),
    };
    loop {
        let mut fds = [
            libc::pollfd {
                fd: control.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfds.
        let ret = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if ret < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return 1;
        }
        if fds[1].revents != 0 {
            command::drain_signalfd(&sigfd);
            reap(&control, &mut table);
        }
        if fds[0].revents != 0 {
            match ipc::recv::<AgentRequest>(control.as_raw_fd()) {
                Ok(Some((request, _fds))) => handle(&control, &mut table, request),
                // The host is gone or sent garbage: exiting takes the whole sandbox down.
                Ok(None) | Err(_) => return 0,
            }
        }
    }
}

fn handle(control: &OwnedFd, table: &mut Table, request: AgentRequest) {
    match request {
        AgentRequest::Start { id, command, nproc } => {
            match command::start(&command, nproc.min(NPROC_CAP)) {
                Ok((pid, host_ends)) => {
                    table.by_pid.insert(pid, id);
                    table.by_id.insert(id, pid);
                    let raw: Vec<RawFd> = host_ends.iter().map(|fd| fd.as_raw_fd()).collect();
                    let _ = ipc::send(control.as_raw_fd(), &AgentEvent::Started { id }, &raw);
                }
                Err(err) => {
                    let event = AgentEvent::StartFailed {
                        id,
                        error: RemoteError::new(err.step, &err.source),
                    };
                    let _ = ipc::send(control.as_raw_fd(), &event, &[]);
                }
            }
        }
        AgentRequest::Signal { id, signal } => {
            if let Some(pid) = table.by_id.get(&id) {
                command::signal_group(*pid, signal);
            }
        }
        AgentRequest::Kill { id } => {
            if let Some(pid) = table.by_id.get(&id) {
                command::kill_tree(*pid);
            }
        }
    }
}

/// Reaps every exited child; reports the commands' exits.
fn reap(control: &OwnedFd, table: &mut Table) {
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; zeroed is valid and the kernel fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointers for status and usage.
        let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, &mut usage) };
        if pid <= 0 {
            return;
        }
        if let Some(id) = table.by_pid.remove(&pid) {
            table.by_id.remove(&id);
            let micros = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
            let event = AgentEvent::Exited {
                id,
                status,
                cpu_us: micros(usage.ru_utime) + micros(usage.ru_stime),
                maxrss_kb: usage.ru_maxrss as u64,
            };
            let _ = ipc::send(control.as_raw_fd(), &event, &[]);
        }
    }
}
