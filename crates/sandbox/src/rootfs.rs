//! The sandbox's filesystem, built by the agent inside its new user and mount namespaces:
//! a tmpfs root with read-only binds of the system dirs, synthesized `/etc` files, a private
//! `/proc`, a minimal `/dev` with its own devpts, and tmpfs `/tmp` and `/work`; then
//! `pivot_root`, detach the host's tree, and make `/` read-only.
//!
//! Bind sources are opened with `O_PATH` *before* the new root is mounted over `/tmp`, and
//! bound through `/proc/self/fd/N`, so a source below the host's `/tmp` still works and each
//! source is resolved exactly once.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{symlink, OpenOptionsExt};
use std::path::{Component, Path};

use crate::agent::StepError;
use crate::spec::SandboxSpec;
use crate::sys::{self, cstr, cvt};

mod mask;

/// Where the new root is assembled: a directory every Linux host has. The tmpfs mounted over
/// it lives only in the sandbox's private mount namespace.
const NEWROOT: &str = "/tmp";
/// Host system directories bound read-only (symlinks, as on merged-usr Debian, are recreated).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];
/// Host `/etc` entries the dynamic loader, TLS and time zone handling need.
const ETC_ENTRIES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/localtime",
    "/etc/nsswitch.conf",
];
/// Host device nodes bound into `/dev`.
const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];
/// Targets a caller's bind may not cover.
/// (`/etc` itself is synthesized; a single `/etc/<entry>`, such as a JDK's config, is fine.)
const RESERVED_TREES: &[&str] = &["/proc", "/dev", "/work", "/tmp"];
const RESERVED_EXACT: &[&str] = &["/", "/etc"];

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// What goes where in the new root.
enum Entry {
    /// Bind `fd` (opened before the root was shadowed) at `target`.
    Bind {
        fd: OwnedFd,
        target: String,
        is_dir: bool,
    },
    /// Recreate a symlink.
    Symlink { link: String, target: String },
}

fn step<T>(what: impl FnOnce() -> String, result: io::Result<T>) -> Result<T, StepError> {
    result.map_err(|source| StepError {
        step: what(),
        source,
    })
}

fn mount(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), StepError> {
    let to_c = |s: Option<&str>| s.map(cstr).transpose();
    let (c_source, c_fstype, c_data) = step(
        || format!("mount {target}"),
        (|| Ok((to_c(source)?, to_c(fstype)?, to_c(data)?)))(),
    )?;
    let c_target = step(|| format!("mount {target}"), cstr(target))?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    tracing::debug!(?source, target, ?fstype, flags, ?data, "mount");
    // SAFETY: every pointer is either null or a live NUL-terminated string.
    let ret = unsafe {
        libc::mount(
            ptr(&c_source),
            c_target.as_ptr(),
            ptr(&c_fstype),
            flags,
            ptr(&c_data).cast(),
        )
    };
    step(
        || format!("mount {} on {target}", source.or(fstype).unwrap_or("none")),
        cvt(ret).map(drop),
    )
}

/// Adds `attrs` to the mount at `target` and every mount below it.
fn restrict_tree(target: &str, attrs: u64) -> Result<(), StepError> {
    let c_target = step(|| format!("restrict {target}"), cstr(target))?;
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `c_target` is NUL-terminated and `attr` is a valid mount_attr of the given size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_target.as_ptr(),
            AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(StepError {
            step: format!("mount_setattr {target}"),
            source: err,
        });
    }
    // Kernels before 5.12: a non-recursive bind remount.
    let mut flags = libc::MS_REMOUNT | libc::MS_BIND;
    if attrs & MOUNT_ATTR_RDONLY != 0 {
        flags |= libc::MS_RDONLY;
    }
    if attrs & MOUNT_ATTR_NOSUID != 0 {
        flags |= libc::MS_NOSUID;
    }
    if attrs & MOUNT_ATTR_NODEV != 0 {
        flags |= libc::MS_NODEV;
    }
    if attrs & MOUNT_ATTR_NOEXEC != 0 {
        flags |= libc::MS_NOEXEC;
    }
    mount(None, target, None, flags, None)
}

/// Opens a host path for binding, or reads it as a symlink to recreate. Missing: `None`.
fn host_entry(source: &str, target: &str, follow: bool) -> Result<Option<Entry>, StepError> {
    let meta = match fs::symlink_metadata(source) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StepError {
                step: format!("stat {source}"),
                source: e,
            })
        }
    };
    if meta.file_type().is_symlink() && !follow {
        let link = step(|| format!("readlink {source}"), fs::read_link(source))?;
        return Ok(Some(Entry::Symlink {
            link: link.to_string_lossy().into_owned(),
            target: target.to_string(),
        }));
    }
    let file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(source)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StepError {
                step: format!("open {source}"),
                source: e,
            })
        }
    };
    let is_dir = step(|| format!("stat {source}"), file.metadata())?.is_dir();
    Ok(Some(Entry::Bind {
        fd: file.into(),
        target: target.to_string(),
        is_dir,
    }))
}

/// Checks a caller's bind target: absolute, normal components only, not over a reserved dir.
fn valid_target(target: &Path) -> bool {
    let text = target.to_string_lossy();
    target.is_absolute()
        && target
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)))
        && !RESERVED_EXACT.iter().any(|r| text == *r)
        && !RESERVED_TREES
            .iter()
            .any(|r| text == *r || text.starts_with(&format!("{r}/")))
}

fn mkdir_p(path: &str) -> Result<(), StepError> {
    step(|| format!("mkdir {path}"), fs::create_dir_all(path))
}

fn touch(path: &str) -> Result<(), StepError> {
    if let Some(parent) = Path::new(path).parent() {
        mkdir_p(&parent.to_string_lossy())?;
    }
    step(
        || format!("create {path}"),
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o644)
            .open(path),
    )
    .map(drop)
}

fn place(entry: &Entry) -> Result<(), StepError> {
    match entry {
        Entry::Symlink { link, target } => {
            let path = format!("{NEWROOT}{target}");
            if let Some(parent) = Path::new(&path).parent() {
                mkdir_p(&parent.to_string_lossy())?;
            }
            step(|| format!("symlink {path}"), symlink(link, &path))
        }
        Entry::Bind { fd, target, is_dir } => {
            let path = format!("{NEWROOT}{target}");
            if *is_dir {
                mkdir_p(&path)?;
            } else {
                touch(&path)?;
            }
            let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
            mount(
                Some(&source),
                &path,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )?;
            restrict_tree(
                &path,
                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            )
        }
    }
}

fn write_new(path: &str, contents: &str) -> Result<(), StepError> {
    step(|| format!("write {path}"), fs::write(path, contents))
}

/// tmpfs size option; `size=0` would mean unlimited, so a page is the least.
fn size_opt(bytes: u64) -> u64 {
    bytes.max(4096)
}

/// Builds the root and pivots into it. Runs as root of the sandbox's user namespace.
pub(crate) fn build(spec: &SandboxSpec) -> Result<(), StepError> {
    // Nothing done here may propagate back to the host's mount tree.
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;

    let mut system = Vec::new();
    for dir in SYSTEM_DIRS {
        if let Some(entry) = host_entry(dir, dir, false)? {
            system.push(entry);
        }
    }
    for path in ETC_ENTRIES {
        if let Some(entry) = host_entry(path, path, false)? {
            system.push(entry);
        }
    }
    let mut extra = Vec::new();
    for bind in &spec.binds {
        if !valid_target(&bind.target) {
            return Err(StepError {
                step: format!("bind {}", bind.target.display()),
                source: io::Error::new(io::ErrorKind::InvalidInput, "target must be absolute, without `..`, and not cover /, /proc, /dev, /etc, /tmp or /work"),
            });
        }
        let source = bind.source.to_string_lossy();
        if let Some(entry) = host_entry(&source, &bind.target.to_string_lossy(), true)? {
            extra.push(entry);
        }
    }

    mount(
        Some("tmpfs"),
        NEWROOT,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=4m,nr_inodes=4096,mode=0755"),
    )?;
    for entry in &system {
        place(entry)?;
    }

    // Synthesized identity files: one user, one group, loopback names only.
    mkdir_p(&format!("{NEWROOT}/etc"))?;
    write_new(
        &format!("{NEWROOT}/etc/passwd"),
        "root:x:0:0:root:/work:/bin/sh\nsandbox:x:1000:1000:sandbox:/work:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    )?;
    write_new(
        &format!("{NEWROOT}/etc/group"),
        "root:x:0:\nsandbox:x:1000:\nnogroup:x:65534:\n",
    )?;
    write_new(
        &format!("{NEWROOT}/etc/hosts"),
        "127.0.0.1 localhost sandbox\n::1 localhost sandbox\n",
    )?;
    write_new(&format!("{NEWROOT}/etc/hostname"), "sandbox\n")?;

    // /proc must be mounted while the host's full /proc is still visible in this mount
    // namespace (the kernel's mnt_too_revealing check), i.e. before the old root is detached.
    let proc_dir = format!("{NEWROOT}/proc");
    mkdir_p(&proc_dir)?;
    // hidepid=2: a program sees only the processes it may ptrace, so not the agent (pid 1,
    // not dumpable) nor its command line.
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("hidepid=2"),
    )?;

    build_dev(spec)?;

    for (dir, bytes, mode) in [
        ("/tmp", spec.tmp_bytes, "1777"),
        ("/work", spec.work_bytes, "0755"),
    ] {
        let path = format!("{NEWROOT}{dir}");
        mkdir_p(&path)?;
        let data = format!("size={},mode={mode},uid=1000,gid=1000", size_opt(bytes));
        mount(
            Some("tmpfs"),
            &path,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(&data),
        )?;
    }
    for entry in &extra {
        place(entry)?;
    }
    drop(system);
    drop(extra);
    mask::mask()?;

    pivot()
}

fn build_dev(spec: &SandboxSpec) -> Result<(), StepError> {
    let dev = format!("{NEWROOT}/dev");
    mkdir_p(&dev)?;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("size=64k,nr_inodes=128,mode=0755"),
    )?;
    for node in DEV_NODES {
        let host = format!("/dev/{node}");
        if fs::symlink_metadata(&host).is_err() {
            continue;
        }
        let path = format!("{dev}/{node}");
        touch(&path)?;
        mount(Some(&host), &path, None, libc::MS_BIND, None)?;
        restrict_tree(&path, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC)?;
    }
    let pts = format!("{dev}/pts");
    mkdir_p(&pts)?;
    // A new devpts instance: the sandbox's ptys are invisible to the host's and other sandboxes'.
    mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = format!("{dev}/shm");
    mkdir_p(&shm)?;
    let data = format!(
        "size={},mode=1777,uid=1000,gid=1000",
        size_opt(spec.tmp_bytes)
    );
    mount(
        Some("tmpfs"),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(&data),
    )?;
    for (name, link) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let path = format!("{dev}/{name}");
        step(|| format!("symlink {path}"), symlink(link, &path))?;
    }
    Ok(())
}

/// `pivot_root(".", ".")` stacks the old root on the new one; detaching it leaves only ours.
fn pivot() -> Result<(), StepError> {
    let c_root = step(|| "pivot_root".into(), cstr(NEWROOT))?;
    let dot = c".";
    step(
        || format!("chdir {NEWROOT}"),
        // SAFETY: the pointers are valid NUL-terminated strings.
        cvt(unsafe { libc::chdir(c_root.as_ptr()) }),
    )?;
    step(
        || "pivot_root".into(),
        // SAFETY: pivot_root takes two valid path strings and has no other memory effects.
        sys::cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) }),
    )?;
    step(
        || "detach old root".into(),
        // SAFETY: as above, a valid path string.
        cvt(unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) }),
    )?;
    step(
        || "chdir /".into(),
        // SAFETY: a valid path string.
        cvt(unsafe { libc::chdir(c"/".as_ptr()) }),
    )?;
    mount(
        None,
        "/",
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )
}

/// Brings the loopback interface of the new network namespace up (no other interface exists).
pub(crate) fn loopback_up() -> Result<(), StepError> {
    const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
    const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
    // SAFETY: socket has no memory effects; the result is checked.
    let sock = step(
        || "socket for lo".into(),
        sys::owned(unsafe {
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        }),
    )?;
    // SAFETY: ifreq is plain data; zeroed is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    step(
        || "get lo flags".into(),
        // SAFETY: `req` is a valid ifreq the kernel reads and writes.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGIFFLAGS, &mut req) }),
    )?;
    // SAFETY: the kernel just filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    step(
        || "set lo up".into(),
        // SAFETY: as above.
        cvt(unsafe { libc::ioctl(sock.as_raw_fd(), SIOCSIFFLAGS, &req) }),
    )?;
    Ok(())
}
