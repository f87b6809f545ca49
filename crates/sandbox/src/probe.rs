//! Host capability probes: real operations, not config reading (a `/.dockerenv` or a kernel
//! config says little about what a seccomp profile or an LSM will refuse).
//!
//! The namespace probe forks a child that unshares every namespace, maps its ids, mounts a
//! tmpfs, pivots into it and opens a pty from a new devpts instance; its exit code says how far
//! it got. The child only makes raw syscalls on strings prepared before the fork, so the probe
//! is also usable from a multi-threaded process.

use std::ffi::CString;
use std::fmt;
use std::fs;

use crate::cgroup;
use crate::protocol::{Capabilities, CgroupMode};

/// One line of the doctor's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was probed.
    pub name: String,
    /// Whether it works.
    pub ok: bool,
    /// Whether the sandbox cannot run without it.
    pub required: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it, when missing.
    pub fix: String,
}

/// The result of [`doctor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoctorReport {
    /// The capability set the checks were derived from.
    pub capabilities: Capabilities,
    /// One check per feature.
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// True when every required check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok || !c.required)
    }
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let status = match (check.ok, check.required) {
                (true, _) => "ok",
                (false, true) => "MISSING",
                (false, false) => "missing (optional)",
            };
            write!(f, "{:<34} {:<20} {}", check.name, status, check.detail)?;
            if !check.ok && !check.fix.is_empty() {
                write!(f, "\n{:<34} fix: {}", "", check.fix)?;
            }
            writeln!(f)?;
        }
        write!(
            f,
            "sandbox: {}",
            if self.ok() {
                "ready"
            } else {
                "NOT READY (see MISSING above)"
            }
        )
    }
}

/// Probes the host (forks short-lived children) and explains what is missing.
pub fn doctor() -> DoctorReport {
    let caps = probe();
    let check = |name: &str, ok: bool, required: bool, detail: String, fix: &str| Check {
        name: name.to_string(),
        ok,
        required,
        detail,
        fix: fix.to_string(),
    };
    let ns_fix = "run as root on a VM or host; enable kernel.unprivileged_userns_clone=1 / user.max_user_namespaces, or allow userns in AppArmor; in Docker use --privileged";
    let cg_fix = "run as root with a writable /sys/fs/cgroup; with cgroup v2 and systemd run the server as a unit with Delegate=yes";
    let checks = vec![
        check(
            "namespaces (user,mnt,pid,net,ipc,uts,cgroup)",
            caps.namespaces,
            true,
            String::new(),
            ns_fix,
        ),
        check(
            "tmpfs in user namespace",
            caps.tmpfs_in_userns,
            true,
            String::new(),
            "run outside a container that masks mounts, or --privileged",
        ),
        check(
            "pivot_root",
            caps.pivot_root,
            true,
            String::new(),
            "run on a host or VM, or in a privileged container",
        ),
        check(
            "seccomp filter",
            caps.seccomp,
            true,
            String::new(),
            "use a kernel with CONFIG_SECCOMP_FILTER=y",
        ),
        check(
            "landlock",
            caps.landlock_abi > 0,
            false,
            format!("ABI {}", caps.landlock_abi),
            "boot with landlock in the lsm= list (kernel >= 5.13)",
        ),
        check(
            "cgroup mode",
            caps.cgroup_mode != CgroupMode::None,
            true,
            caps.cgroup_mode.to_string(),
            cg_fix,
        ),
        check(
            "cgroup memory limit",
            caps.cgroup_memory,
            true,
            String::new(),
            cg_fix,
        ),
        check(
            "cgroup swap accounting",
            caps.cgroup_memsw,
            false,
            String::new(),
            "boot with swapaccount=1 (or disable swap)",
        ),
        check(
            "cgroup socket memory",
            caps.cgroup_socket_memory,
            false,
            String::new(),
            "on cgroup v1, a kernel with memory.kmem.tcp.limit_in_bytes (or use cgroup v2); \
             without it a run's TCP buffers escape its memory limit",
        ),
        check(
            "cgroup pids limit",
            caps.cgroup_pids,
            true,
            String::new(),
            cg_fix,
        ),
        check(
            "cgroup cpu limit",
            caps.cgroup_cpu,
            false,
            String::new(),
            cg_fix,
        ),
        check(
            "cgroup.kill",
            caps.cgroup_kill,
            false,
            String::new(),
            "kernel >= 5.14 with a cgroup v2 mount",
        ),
        check(
            "open files limit (RLIMIT_NOFILE)",
            caps.nofile_hard >= crate::agent::NOFILE,
            true,
            format!("hard {}", caps.nofile_hard),
            crate::protocol::NOFILE_FIX,
        ),
        check(
            "pty (new devpts instance)",
            caps.pty,
            false,
            String::new(),
            "allow devpts mounts in user namespaces (kernel >= 4.7)",
        ),
    ];
    DoctorReport {
        capabilities: caps,
        checks,
    }
}

/// Runs every probe.
pub(crate) fn probe() -> Capabilities {
    let reached = namespace_probe();
    let mut caps = Capabilities {
        namespaces: reached >= 2,
        tmpfs_in_userns: reached >= 3,
        pivot_root: reached >= 4,
        pty: reached >= 5,
        seccomp: seccomp_available(),
        landlock_abi: landlock_abi(),
        cgroup_mode: cgroup::detect_mode(),
        cgroup_memory: false,
        cgroup_memsw: false,
        cgroup_pids: false,
        cgroup_cpu: false,
        cgroup_kill: false,
        cgroup_socket_memory: false,
        nofile_hard: crate::sys::get_rlimit(libc::RLIMIT_NOFILE).map_or(0, |(_, hard)| hard),
    };
    cgroup_probe(&mut caps);
    caps
}

fn seccomp_available() -> bool {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let action = SECCOMP_RET_ERRNO;
    // SAFETY: the kernel reads one u32 from the valid pointer.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        ) == 0
    }
}

fn landlock_abi() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer and the VERSION flag the kernel only returns a number.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if ret > 0 {
        ret as u32
    } else {
        0
    }
}

/// How far the namespace probe child got: 0 fork failed, 1 unshare failed, 2 id maps or tmpfs
/// failed, 3 pivot_root failed, 4 devpts failed, 5 everything worked.
fn namespace_probe() -> u8 {
    let c = |s: &str| CString::new(s).expect("literal without NUL");
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let uid_map = c(&format!("0 {uid} 1"));
    let gid_map = c(&format!("0 {gid} 1"));
    let paths = [
        c("/proc/self/uid_map"),
        c("/proc/self/setgroups"),
        c("/proc/self/gid_map"),
    ];
    let deny = c("deny");
    let (tmp, tmpfs, root, dot, pts, devpts, opts, ptmx) = (
        c("/tmp"),
        c("tmpfs"),
        c("/"),
        c("."),
        c("pts"),
        c("devpts"),
        c("newinstance,ptmxmode=0666"),
        c("pts/ptmx"),
    );
    // SAFETY: the child below only makes raw syscalls on the strings prepared above and ends
    // with _exit, which is safe even after forking a multi-threaded process.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return 0;
    }
    if pid == 0 {
        // SAFETY: raw syscalls on valid NUL-terminated strings; the child never returns.
        unsafe {
            let flags = libc::CLONE_NEWUSER
                | libc::CLONE_NEWNS
                | libc::CLONE_NEWPID
                | libc::CLONE_NEWNET
                | libc::CLONE_NEWIPC
                | libc::CLONE_NEWUTS
                | libc::CLONE_NEWCGROUP;
            if libc::unshare(flags) != 0 {
                libc::_exit(1);
            }
            let write = |path: &CString, text: &CString| {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
                let ok =
                    fd >= 0 && libc::write(fd, text.as_ptr().cast(), text.as_bytes().len()) >= 0;
                libc::close(fd);
                ok
            };
            if !write(&paths[0], &uid_map)
                || !write(&paths[1], &deny)
                || !write(&paths[2], &gid_map)
            {
                libc::_exit(2);
            }
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
                || libc::mount(
                    tmpfs.as_ptr(),
                    tmp.as_ptr(),
                    tmpfs.as_ptr(),
                    0,
                    std::ptr::null(),
                ) != 0
            {
                libc::_exit(2);
            }
            if libc::chdir(tmp.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) != 0
                || libc::umount2(dot.as_ptr(), libc::MNT_DETACH) != 0
            {
                libc::_exit(3);
            }
            if libc::mkdir(pts.as_ptr(), 0o755) != 0
                || libc::mount(
                    devpts.as_ptr(),
                    pts.as_ptr(),
                    devpts.as_ptr(),
                    0,
                    opts.as_ptr().cast(),
                ) != 0
                || libc::open(ptmx.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) < 0
            {
                libc::_exit(4);
            }
            libc::_exit(5);
        }
    }
    let mut status = 0;
    // SAFETY: reaping our own child into a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u8
    } else {
        0
    }
}

/// Tries to create a child cgroup and write a limit in each controller we use.
fn cgroup_probe(caps: &mut Capabilities) {
    let Ok(own) = fs::read_to_string("/proc/self/cgroup") else {
        return;
    };
    let path_of = |controller: &str| -> Option<String> {
        own.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _ = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?.trim_end_matches('/').to_string();
            let matches = if controller.is_empty() {
                controllers.is_empty()
            } else {
                controllers.split(',').any(|c| c == controller)
            };
            matches.then_some(path)
        })
    };
    // SAFETY: getpid has no preconditions.
    let probe_name = format!("runnel-probe-{}", unsafe { libc::getpid() });
    let try_dir = |dir: String, knob: &str, value: &str| -> (bool, bool) {
        if fs::create_dir(&dir).is_err() {
            return (false, false);
        }
        let ok = crate::sys::write_file(&format!("{dir}/{knob}"), value).is_ok();
        let extra = fs::metadata(format!("{dir}/memory.memsw.limit_in_bytes")).is_ok()
            || fs::metadata(format!("{dir}/cgroup.kill")).is_ok();
        let _ = fs::remove_dir(&dir);
        (ok, extra)
    };
    match caps.cgroup_mode {
        CgroupMode::V1 | CgroupMode::Hybrid => {
            if let Some(p) = path_of("memory") {
                (caps.cgroup_memory, caps.cgroup_memsw) = try_dir(
                    format!("/sys/fs/cgroup/memory{p}/{probe_name}"),
                    "memory.limit_in_bytes",
                    "268435456",
                );
                caps.cgroup_socket_memory = caps.cgroup_memory
                    && fs::metadata(format!(
                        "/sys/fs/cgroup/memory{p}/memory.kmem.tcp.limit_in_bytes"
                    ))
                    .is_ok();
            }
            if let Some(p) = path_of("pids") {
                caps.cgroup_pids = try_dir(
                    format!("/sys/fs/cgroup/pids{p}/{probe_name}"),
                    "pids.max",
                    "64",
                )
                .0;
            }
            if let Some(p) = path_of("cpu") {
                caps.cgroup_cpu = try_dir(
                    format!("/sys/fs/cgroup/cpu{p}/{probe_name}"),
                    "cpu.cfs_quota_us",
                    "100000",
                )
                .0;
            }
            if caps.cgroup_mode == CgroupMode::Hybrid {
                let p = path_of("").unwrap_or_default();
                caps.cgroup_kill = try_dir(
                    format!("/sys/fs/cgroup/unified{p}/{probe_name}"),
                    "cgroup.freeze",
                    "0",
                )
                .1;
            }
        }
        CgroupMode::V2 => {
            let p = path_of("").unwrap_or_default();
            let base = format!("/sys/fs/cgroup{p}");
            let controllers =
                fs::read_to_string(format!("{base}/cgroup.controllers")).unwrap_or_default();
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            // SAFETY: access only reads the path string.
            let writable = CString::new(base.clone())
                .map(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
                .unwrap_or(false);
            caps.cgroup_memory = writable && has("memory");
            caps.cgroup_pids = writable && has("pids");
            caps.cgroup_cpu = writable && has("cpu");
            caps.cgroup_memsw = fs::metadata(format!("{base}/memory.swap.max")).is_ok()
                || (writable && has("memory"));
            caps.cgroup_kill = fs::metadata(format!("{base}/cgroup.kill")).is_ok();
            caps.cgroup_socket_memory = caps.cgroup_memory;
        }
        CgroupMode::None => {}
    }
}
