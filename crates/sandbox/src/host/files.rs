//! Files into a sandbox's `/work`, host side, without ever following a symlink, and the lookups
//! that the reads of [`super::tree`] share.
//!
//! Every lookup is one `openat2` component at a time from the `/work` descriptor the agent
//! sent, with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV`
//! and `O_NOFOLLOW`: a symlink planted by sandboxed code makes the operation fail (writes) or
//! is skipped (reads); it can never point us at a host file (Judge0 CVE-2024-28185 and
//! Compiler Explorer #6026 were both this mistake).
//!
//! Writes run with the blocking thread's filesystem ids switched to the host uid of the
//! sandbox's uid 1000 (`setfsuid` is per thread): the tmpfs belongs to the sandbox's user
//! namespace, where host root is unmapped and may not create inodes, and acting as the sandbox
//! user also drops the thread's file capabilities for the duration of the write.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::error::SandboxError;
use crate::host::sandbox::SandboxInner;
use crate::spec::FileEntry;
use crate::sys::{self, cvt};

const RESOLVE: u64 = libc::RESOLVE_BENEATH
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_NO_XDEV;
/// Longest relative path accepted.
const MAX_PATH: usize = 4096;
const TMPFS_MAGIC: i64 = 0x0102_1994;

pub(super) fn openat2(
    dir: RawFd,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: open_how is plain data; zeroed then filled.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) as u64;
    how.mode = if flags & libc::O_CREAT != 0 {
        mode as u64
    } else {
        0
    };
    how.resolve = RESOLVE;
    loop {
        // SAFETY: `name` is NUL-terminated and `how` is a valid open_how of the given size.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                name.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        match sys::cvt_long(ret) {
            Ok(fd) => return sys::owned(fd as libc::c_int),
            Err(err) if matches!(err.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR)) => {
                continue
            }
            Err(err) => return Err(err),
        }
    }
}

pub(super) fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data and fstat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor number and out-pointer.
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// Checks the agent's `/work` descriptor really is a tmpfs directory (the agent is untrusted).
pub(crate) fn check_work_dir(id: &str, work: &OwnedFd) -> Result<(), SandboxError> {
    let bad = |detail: &str| SandboxError::Protocol {
        id: id.into(),
        detail: detail.into(),
    };
    let st = fstat(work.as_raw_fd()).map_err(|_| bad("/work descriptor cannot be inspected"))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(bad("/work descriptor is not a directory"));
    }
    // SAFETY: statfs is plain data and fstatfs only writes into it.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out-pointer.
    cvt(unsafe { libc::fstatfs(work.as_raw_fd(), &mut fs) })
        .map_err(|_| bad("/work descriptor cannot be inspected"))?;
    if fs.f_type as i64 != TMPFS_MAGIC {
        return Err(bad("/work descriptor is not on a tmpfs"));
    }
    Ok(())
}

/// Splits and validates a relative path into its components.
pub(super) fn components<'a>(
    sandbox: &SandboxInner,
    path: &'a str,
) -> Result<Vec<&'a str>, SandboxError> {
    let invalid = |reason| SandboxError::InvalidPath {
        id: sandbox.id.clone(),
        path: path.into(),
        reason,
    };
    if path.is_empty() || path.len() > MAX_PATH {
        return Err(invalid("empty or too long"));
    }
    if path.starts_with('/') {
        return Err(invalid("absolute paths are not allowed"));
    }
    if path.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    let parts: Vec<&str> = path.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(invalid("empty, `.` or `..` components are not allowed"));
    }
    Ok(parts)
}

pub(super) fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// Switches the calling thread's filesystem uid and gid until dropped.
struct AsSandboxUser {
    uid: libc::uid_t,
    gid: libc::gid_t,
}

impl AsSandboxUser {
    fn enter(id: u32) -> AsSandboxUser {
        // SAFETY: setfsgid/setfsuid change only this thread's filesystem credentials; the
        // previous values are restored by Drop before the thread runs anything else.
        let gid = unsafe { libc::setfsgid(id) } as libc::gid_t;
        // SAFETY: as above.
        let uid = unsafe { libc::setfsuid(id) } as libc::uid_t;
        AsSandboxUser { uid, gid }
    }
}

impl Drop for AsSandboxUser {
    fn drop(&mut self) {
        // SAFETY: restores the thread's previous filesystem credentials (and with fsuid 0 its
        // file capabilities).
        unsafe {
            libc::setfsuid(self.uid);
            libc::setfsgid(self.gid);
        }
    }
}

/// Opens (creating if needed) directory `name` under `dir`.
fn open_or_make_dir(dir: RawFd, name: &str) -> io::Result<OwnedFd> {
    let c = c_name(name)?;
    match openat2(dir, &c, libc::O_PATH | libc::O_DIRECTORY, 0) {
        Ok(fd) => Ok(fd),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {
            // mkdirat never follows a symlink in its last component.
            // SAFETY: valid descriptor and NUL-terminated name.
            match cvt(unsafe { libc::mkdirat(dir, c.as_ptr(), 0o755) }) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(e),
            }
            openat2(dir, &c, libc::O_PATH | libc::O_DIRECTORY, 0)
        }
        Err(err) => Err(err),
    }
}

pub(crate) fn write_files(sandbox: &SandboxInner, files: &[FileEntry]) -> Result<(), SandboxError> {
    let _identity = AsSandboxUser::enter(sandbox.uid_base + 1);
    for file in files {
        let parts = components(sandbox, &file.path)?;
        let error = |source| SandboxError::WriteFile {
            id: sandbox.id.clone(),
            path: file.path.clone(),
            source,
        };
        let (name, dirs) = parts
            .split_last()
            .expect("components() returns at least one part");
        let mut current: Option<OwnedFd> = None;
        for dir in dirs {
            let base = current
                .as_ref()
                .map_or(sandbox.work.as_raw_fd(), |fd| fd.as_raw_fd());
            current = Some(open_or_make_dir(base, dir).map_err(error)?);
        }
        let base = current
            .as_ref()
            .map_or(sandbox.work.as_raw_fd(), |fd| fd.as_raw_fd());
        let mode = if file.executable { 0o755 } else { 0o644 };
        // O_NONBLOCK: a FIFO planted at the name fails (ENXIO) instead of blocking us.
        let fd = openat2(
            base,
            &c_name(name).map_err(error)?,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NONBLOCK | libc::O_NOCTTY,
            mode,
        )
        .map_err(error)?;
        let st = fstat(fd.as_raw_fd()).map_err(error)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        // The umask may have masked the mode at creation; the file is ours (fsuid), so set it.
        // SAFETY: fchmod on our own descriptor, no path lookup.
        cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map_err(error)?;
        sys::set_nonblocking(fd.as_raw_fd(), false).map_err(error)?;
        sys::write_all(fd.as_raw_fd(), &file.contents).map_err(error)?;
    }
    Ok(())
}
