//! Starting commands inside the sandbox: pipes or a pty from the sandbox's own devpts, a new
//! session per command, then `execve` of an absolute path with exactly the given environment.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::agent::StepError;
use crate::spec::{CommandSpec, ExtraPipe, StdioMode};
use crate::sys::{self, cvt};

const TIOCSPTLCK: libc::c_ulong = 0x4004_5431;

fn step<T>(step: &str, result: io::Result<T>) -> Result<T, StepError> {
    result.map_err(|source| StepError {
        step: step.to_string(),
        source,
    })
}

fn invalid(step: &str, detail: &str) -> StepError {
    StepError {
        step: step.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidInput, detail.to_string()),
    }
}

/// SIGCHLD as a descriptor, so the agent's single poll loop sees both requests and exits.
pub(super) fn child_signalfd() -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t for these calls.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        cvt(libc::sigprocmask(
            libc::SIG_BLOCK,
            &set,
            std::ptr::null_mut(),
        ))?;
    }
    // SAFETY: `set` is valid; the result is checked.
    sys::owned(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })
}

/// Empties the signalfd (coalesced SIGCHLDs; `reap` loops anyway).
pub(super) fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; 128 * 8];
    while matches!(sys::read_some(fd.as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
}

/// Signals the command's process group (falls back to the process if it left its group).
pub(super) fn signal_group(pid: libc::pid_t, signal: i32) {
    // SAFETY: kill has no memory effects.
    if unsafe { libc::kill(-pid, signal) } != 0 {
        // SAFETY: as above.
        unsafe { libc::kill(pid, signal) };
    }
}

/// SIGKILLs the command, its process group, and every process of its session.
pub(super) fn kill_tree(pid: libc::pid_t) {
    signal_group(pid, libc::SIGKILL);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(other) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if other == 1 {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{other}/stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state ppid pgrp session ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let pgrp = fields.get(2).and_then(|f| f.parse::<libc::pid_t>().ok());
        let session = fields.get(3).and_then(|f| f.parse::<libc::pid_t>().ok());
        if pgrp == Some(pid) || session == Some(pid) {
            // SAFETY: as above.
            unsafe { libc::kill(other, libc::SIGKILL) };
        }
    }
}

/// Descriptors of one command: what the child gets (0, 1, 2, 3, ...) and what the host gets.
struct Plumbing {
    child: Vec<OwnedFd>,
    host: Vec<OwnedFd>,
    pty_slave: bool,
}

fn plumbing(command: &CommandSpec) -> Result<Plumbing, StepError> {
    let mut child = Vec::new();
    let mut host = Vec::new();
    let pty_slave = match command.stdio {
        StdioMode::Pipes => {
            let (in_r, in_w) = step("pipe", sys::pipe())?;
            let (out_r, out_w) = step("pipe", sys::pipe())?;
            let (err_r, err_w) = step("pipe", sys::pipe())?;
            child.extend([in_r, out_w, err_w]);
            host.extend([in_w, out_r, err_r]);
            false
        }
        StdioMode::Pty { rows, cols } => {
            // SAFETY: a valid path literal; the result is checked.
            let master = step(
                "open /dev/ptmx",
                sys::owned(unsafe {
                    libc::open(
                        c"/dev/ptmx".as_ptr(),
                        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                    )
                }),
            )?;
            let unlock: libc::c_int = 0;
            step(
                "unlock pty",
                // SAFETY: TIOCSPTLCK reads one int from the valid pointer.
                cvt(unsafe { libc::ioctl(master.as_raw_fd(), TIOCSPTLCK, &unlock) }),
            )?;
            let size = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            step(
                "set pty size",
                // SAFETY: TIOCSWINSZ reads a winsize from the valid pointer.
                cvt(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) }),
            )?;
            // TIOCGPTPEER opens the slave through the master: no path lookup, no race.
            // SAFETY: TIOCGPTPEER takes open flags by value; the result is checked.
            let slave = step(
                "open pty slave",
                sys::owned(unsafe {
                    libc::ioctl(
                        master.as_raw_fd(),
                        libc::TIOCGPTPEER,
                        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
                    )
                }),
            )?;
            for _ in 0..3 {
                child.push(step("dup pty slave", slave.try_clone())?);
            }
            host.push(master);
            true
        }
    };
    for extra in &command.extra_pipes {
        let (read, write) = step("pipe", sys::pipe())?;
        match extra {
            ExtraPipe::Read => {
                child.push(read);
                host.push(write);
            }
            ExtraPipe::Write => {
                child.push(write);
                host.push(read);
            }
        }
    }
    Ok(Plumbing {
        child,
        host,
        pty_slave,
    })
}

fn cstring(step_name: &str, value: String) -> Result<CString, StepError> {
    CString::new(value).map_err(|_| invalid(step_name, "contains a NUL byte"))
}

/// Starts `command`; returns its pid and the host's ends of its descriptors.
pub(super) fn start(
    command: &CommandSpec,
    nproc: u64,
) -> Result<(libc::pid_t, Vec<OwnedFd>), StepError> {
    let program = command
        .argv
        .first()
        .ok_or_else(|| invalid("argv", "empty"))?;
    if !program.starts_with('/') {
        return Err(invalid("argv", "argv[0] must be an absolute path"));
    }
    if !command.cwd.starts_with('/') {
        return Err(invalid("cwd", "must be absolute"));
    }
    let argv: Vec<CString> = command
        .argv
        .iter()
        .map(|a| cstring("argv", a.clone()))
        .collect::<Result<_, _>>()?;
    let mut envp = Vec::with_capacity(command.env.len());
    for (key, value) in &command.env {
        if key.is_empty() || key.contains('=') {
            return Err(invalid("env", "a name is empty or contains `=`"));
        }
        envp.push(cstring("env", format!("{key}={value}"))?);
    }
    let cwd = cstring("cwd", command.cwd.clone())?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());

    let plumbing = plumbing(command)?;
    let (err_r, err_w) = step("pipe", sys::pipe())?;
    let cpu_secs = command
        .cpu_time
        .map(|d| d.as_secs_f64().ceil().max(1.0) as u64);
    let exec = Exec {
        argv: &argv_ptrs,
        envp: &envp_ptrs,
        cwd: &cwd,
        fds: plumbing.child.iter().map(|fd| fd.as_raw_fd()).collect(),
        pty: plumbing.pty_slave,
        cpu_secs,
        file_size: command.file_size,
        nproc,
        report: err_w.as_raw_fd(),
    };
    // SAFETY: the agent is single-threaded, so the child may run ordinary code; it never
    // returns from `exec_child` (it execs or _exits).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(StepError {
            step: "fork".into(),
            source: io::Error::last_os_error(),
        });
    }
    if pid == 0 {
        exec_child(&exec);
    }
    drop(plumbing.child);
    drop(err_w);
    // The child writes (step, errno) and exits if anything before execve failed; a clean exec
    // closes the pipe (close-on-exec), giving EOF.
    let mut report = [0u8; 8];
    let mut got = 0;
    while got < report.len() {
        match sys::read_some(err_r.as_raw_fd(), &mut report[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    if got == 0 {
        return Ok((pid, plumbing.host));
    }
    let mut status = 0;
    // SAFETY: reaping our own child; `status` is a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let which = u32::from_ne_bytes([report[0], report[1], report[2], report[3]]);
    let errno = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
    let step_name = match which {
        1 => "setsid".to_string(),
        2 => "set controlling terminal".to_string(),
        3 => "set up descriptors".to_string(),
        4 => "set rlimits".to_string(),
        5 => format!("chdir {}", command.cwd),
        _ => format!("execve {program}"),
    };
    Err(StepError {
        step: step_name,
        source: io::Error::from_raw_os_error(errno),
    })
}

/// Everything the forked child needs, prepared before `fork`.
struct Exec<'a> {
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    cwd: &'a CString,
    fds: Vec<RawFd>,
    pty: bool,
    cpu_secs: Option<u64>,
    file_size: u64,
    nproc: u64,
    report: RawFd,
}

fn fail(report: RawFd, which: u32, err: io::Error) -> ! {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&which.to_ne_bytes());
    buf[4..].copy_from_slice(&err.raw_os_error().unwrap_or(libc::EIO).to_ne_bytes());
    let _ = sys::write_all(report, &buf);
    // SAFETY: _exit never returns.
    unsafe { libc::_exit(127) }
}

/// The forked child: session, descriptors, limits, exec.
fn exec_child(exec: &Exec<'_>) -> ! {
    // Reset what the agent changed for itself: the blocked SIGCHLD and ignored SIGPIPE
    // (both survive execve and would confuse programs).
    // SAFETY: sigset_t is plain data; the calls only read and write these locals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for signal in 1..32 {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::signal(signal, libc::SIG_DFL);
            }
        }
    }
    // Own session and process group: signals and kills target the command alone.
    // SAFETY: setsid has no memory effects.
    if unsafe { libc::setsid() } < 0 {
        fail(exec.report, 1, io::Error::last_os_error());
    }
    if exec.pty {
        // SAFETY: TIOCSCTTY on our pty slave with argument 0.
        if unsafe { libc::ioctl(exec.fds[0], libc::TIOCSCTTY, 0) } < 0 {
            fail(exec.report, 2, io::Error::last_os_error());
        }
    }
    // Move every source, and the report pipe, above the targets first, so dup2 never
    // overwrites one of them.
    let count = exec.fds.len() as libc::c_int;
    // SAFETY: F_DUPFD_CLOEXEC duplicates a live descriptor.
    let report = unsafe { libc::fcntl(exec.report, libc::F_DUPFD_CLOEXEC, count.max(3) + 64) };
    if report < 0 {
        fail(exec.report, 3, io::Error::last_os_error());
    }
    let mut high = Vec::with_capacity(exec.fds.len());
    for fd in &exec.fds {
        // SAFETY: F_DUPFD_CLOEXEC duplicates a live descriptor.
        let new = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, count.max(3) + 16) };
        if new < 0 {
            fail(report, 3, io::Error::last_os_error());
        }
        high.push(new);
    }
    for (target, fd) in high.iter().enumerate() {
        // SAFETY: dup2 onto the target number; dup2 clears close-on-exec on the copy.
        if unsafe { libc::dup2(*fd, target as libc::c_int) } < 0 {
            fail(report, 3, io::Error::last_os_error());
        }
    }
    // Everything else closes at exec (the report pipe must stay open until then).
    // SAFETY: close_range with CLOEXEC only sets flags.
    unsafe {
        libc::close_range(
            count as u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
        )
    };

    let limits = [
        (libc::RLIMIT_NPROC, exec.nproc, exec.nproc),
        (
            libc::RLIMIT_FSIZE,
            if exec.file_size == 0 {
                libc::RLIM_INFINITY
            } else {
                exec.file_size
            },
            if exec.file_size == 0 {
                libc::RLIM_INFINITY
            } else {
                exec.file_size
            },
        ),
    ];
    for (resource, soft, hard) in limits {
        if let Err(err) = sys::set_rlimit(resource, soft, hard) {
            fail(report, 4, err);
        }
    }
    if let Some(secs) = exec.cpu_secs {
        // SIGXCPU at the soft limit, SIGKILL a second later for programs that catch it.
        if let Err(err) = sys::set_rlimit(libc::RLIMIT_CPU, secs, secs + 1) {
            fail(report, 4, err);
        }
    }
    // The agent keeps -1000 (where the host allows it) so the OOM killer picks user
    // processes; commands raise theirs to +500, which needs no privilege and keeps the agent
    // the last choice even when it could not be protected (/proc/self is only ours to write
    // while dumpable).
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    let _ = sys::write_file("/proc/self/oom_score_adj", "500");
    // SAFETY: `cwd` is NUL-terminated.
    if unsafe { libc::chdir(exec.cwd.as_ptr()) } < 0 {
        fail(report, 5, io::Error::last_os_error());
    }
    // SAFETY: argv and envp are NULL-terminated arrays of live NUL-terminated strings.
    unsafe { libc::execve(exec.argv[0], exec.argv.as_ptr(), exec.envp.as_ptr()) };
    fail(report, 6, io::Error::last_os_error())
}
