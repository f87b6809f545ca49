//! Reading a sandbox's `/work`, host side, without ever following a symlink: a walk that reads
//! the files a filter accepts (bounded in bytes), a walk that only stats (bounded in entries),
//! and one file opened for streaming. The lookups are those of [`super::files`]: `openat2`
//! beneath `/work` with no symlink, magic link or mount crossing, and `O_NOFOLLOW`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::files::{c_name, components, fstat, openat2};
use crate::error::SandboxError;
use crate::host::sandbox::SandboxInner;
use crate::spec::{FileEntry, FileStat, TreeListing};
use crate::sys;

/// Deepest directory nesting a walk descends into.
const MAX_DEPTH: usize = 64;
/// Most entries a walk looks at (bounds the time a tree of empty files can cost).
const MAX_ENTRIES: usize = 100_000;
/// Most files a listing returns; past it the listing says it is truncated.
pub(crate) const MAX_LISTED: usize = 10_000;

/// What a walk does with each regular file it meets (`keep` accepted the path).
trait Visit {
    /// Whether to look at the file at `path` at all.
    fn keep(&self, path: &str) -> bool;
    /// The file, opened `O_PATH` (never read through this descriptor) and checked regular.
    /// `Ok(false)` stops the walk early, without an error.
    fn file(&mut self, dir: &OwnedFd, name: &CStr, path: String) -> Result<bool, SandboxError>;
}

/// Walk the regular files under `/work`, depth first; returns false when `visit` stopped it.
fn walk(sandbox: &SandboxInner, visit: &mut dyn Visit) -> Result<bool, SandboxError> {
    let root = openat2(
        sandbox.work.as_raw_fd(),
        c".",
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )
    .map_err(|source| read_error(sandbox, "", source))?;
    let mut entries = 0;
    walk_dir(sandbox, visit, root, "", 0, &mut entries)
}

fn walk_dir(
    sandbox: &SandboxInner,
    visit: &mut dyn Visit,
    dir: OwnedFd,
    prefix: &str,
    depth: usize,
    entries: &mut usize,
) -> Result<bool, SandboxError> {
    let names = list(&dir).map_err(|e| read_error(sandbox, prefix, e))?;
    for (name, d_type) in names {
        *entries += 1;
        if *entries > MAX_ENTRIES {
            return Err(SandboxError::TooManyEntries {
                id: sandbox.id.clone(),
                max_entries: MAX_ENTRIES,
            });
        }
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let c = c_name(&name).map_err(|e| read_error(sandbox, &path, e))?;
        let go_on = match d_type {
            libc::DT_DIR if depth < MAX_DEPTH => {
                match openat2(dir.as_raw_fd(), &c, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
                    Ok(sub) => walk_dir(sandbox, visit, sub, &path, depth + 1, entries)?,
                    Err(err) if vanished(&err) => true,
                    Err(err) => return Err(read_error(sandbox, &path, err)),
                }
            }
            libc::DT_REG | libc::DT_UNKNOWN if visit.keep(&path) => visit.file(&dir, &c, path)?,
            // Symlinks, FIFOs, sockets, devices, too-deep dirs and files `keep` refuses:
            // skipped, never followed or read.
            _ => true,
        };
        if !go_on {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A symlink (ELOOP), an entry that vanished meanwhile, or one on another mount: skipped.
fn vanished(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ELOOP) | Some(libc::ENOENT) | Some(libc::EXDEV) | Some(libc::ENOTDIR)
    )
}

fn read_error(sandbox: &SandboxInner, path: &str, source: io::Error) -> SandboxError {
    SandboxError::ReadFile {
        id: sandbox.id.clone(),
        path: path.into(),
        source,
    }
}

/// Opens `name` under `dir` for reading if it is a regular file (`None` for anything else).
fn open_regular(dir: &OwnedFd, name: &CStr) -> io::Result<Option<(OwnedFd, libc::stat)>> {
    let fd = match openat2(
        dir.as_raw_fd(),
        name,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        0,
    ) {
        Ok(fd) => fd,
        Err(err) if vanished(&err) => return Ok(None),
        Err(err) => return Err(err),
    };
    let st = fstat(fd.as_raw_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    Ok(Some((fd, st)))
}

struct Reader<'a> {
    sandbox: &'a SandboxInner,
    keep: &'a dyn Fn(&str) -> bool,
    max_bytes: u64,
    total: u64,
    out: Vec<FileEntry>,
}

impl Visit for Reader<'_> {
    fn keep(&self, path: &str) -> bool {
        (self.keep)(path)
    }

    fn file(&mut self, dir: &OwnedFd, name: &CStr, path: String) -> Result<bool, SandboxError> {
        let too_large = || SandboxError::TreeTooLarge {
            id: self.sandbox.id.clone(),
            max_bytes: self.max_bytes,
        };
        let Some((fd, st)) =
            open_regular(dir, name).map_err(|e| read_error(self.sandbox, &path, e))?
        else {
            return Ok(true);
        };
        let remaining = self.max_bytes.saturating_sub(self.total);
        if st.st_size as u64 > remaining {
            return Err(too_large());
        }
        // Read at most one buffer past the budget: the file may grow while we read.
        let mut contents = Vec::with_capacity(st.st_size as usize);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = sys::read_some(fd.as_raw_fd(), &mut buf)
                .map_err(|e| read_error(self.sandbox, &path, e))?;
            if n == 0 {
                break;
            }
            contents.extend_from_slice(&buf[..n]);
            if contents.len() as u64 > remaining {
                return Err(too_large());
            }
        }
        self.total += contents.len() as u64;
        self.out.push(FileEntry {
            path,
            contents,
            executable: st.st_mode & 0o111 != 0,
        });
        Ok(true)
    }
}

/// The regular files `keep` accepts, read whole, at most `max_bytes` in total.
pub(crate) fn read_tree(
    sandbox: &SandboxInner,
    max_bytes: u64,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<FileEntry>, SandboxError> {
    let mut reader = Reader {
        sandbox,
        keep,
        max_bytes,
        total: 0,
        out: Vec::new(),
    };
    walk(sandbox, &mut reader)?;
    Ok(reader.out)
}

struct Lister<'a> {
    sandbox: &'a SandboxInner,
    out: Vec<FileStat>,
}

impl Visit for Lister<'_> {
    fn keep(&self, _path: &str) -> bool {
        true
    }

    fn file(&mut self, dir: &OwnedFd, name: &CStr, path: String) -> Result<bool, SandboxError> {
        if self.out.len() == MAX_LISTED {
            return Ok(false);
        }
        // O_PATH: nothing is opened for reading (a FIFO cannot block us), only stat'ed.
        let fd = match openat2(dir.as_raw_fd(), name, libc::O_PATH, 0) {
            Ok(fd) => fd,
            Err(err) if vanished(&err) => return Ok(true),
            Err(err) => return Err(read_error(self.sandbox, &path, err)),
        };
        let st = fstat(fd.as_raw_fd()).map_err(|e| read_error(self.sandbox, &path, e))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFREG {
            self.out.push(FileStat {
                path,
                size: st.st_size as u64,
                executable: st.st_mode & 0o111 != 0,
            });
        }
        Ok(true)
    }
}

/// The regular files under `/work`, stat'ed only (no file is opened for reading), at most
/// [`MAX_LISTED`] of them.
pub(crate) fn list_tree(sandbox: &SandboxInner) -> Result<TreeListing, SandboxError> {
    let mut lister = Lister {
        sandbox,
        out: Vec::new(),
    };
    let complete = walk(sandbox, &mut lister)?;
    Ok(TreeListing {
        files: lister.out,
        truncated: !complete,
    })
}

/// The regular file at `path`, opened for reading, and its size; `None` when there is none
/// (a symlink anywhere on the path, a directory or a special file read as absent).
pub(crate) fn open_file(
    sandbox: &SandboxInner,
    path: &str,
) -> Result<Option<(std::fs::File, u64)>, SandboxError> {
    let parts = components(sandbox, path)?;
    let Some((name, dirs)) = parts.split_last() else {
        return Ok(None);
    };
    let error = |source| read_error(sandbox, path, source);
    let mut current: Option<OwnedFd> = None;
    for dir in dirs {
        let base = current
            .as_ref()
            .map_or(sandbox.work.as_raw_fd(), |fd| fd.as_raw_fd());
        let c = c_name(dir).map_err(error)?;
        match openat2(base, &c, libc::O_PATH | libc::O_DIRECTORY, 0) {
            Ok(fd) => current = Some(fd),
            Err(err) if vanished(&err) => return Ok(None),
            Err(err) => return Err(error(err)),
        }
    }
    let dir = match current {
        Some(dir) => dir,
        None => sandbox.work.try_clone().map_err(error)?,
    };
    let c = c_name(name).map_err(error)?;
    let Some((fd, st)) = open_regular(&dir, &c).map_err(error)? else {
        return Ok(None);
    };
    sys::set_nonblocking(fd.as_raw_fd(), false).map_err(error)?;
    Ok(Some((std::fs::File::from(fd), st.st_size as u64)))
}

/// Lists a directory's entries (name, `d_type`) without `.` and `..`.
fn list(dir: &OwnedFd) -> io::Result<Vec<(String, u8)>> {
    // fdopendir takes ownership of the descriptor it is given, so give it a duplicate.
    let dup = dir.try_clone()?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(dup);
    // SAFETY: `raw` is a live directory descriptor whose ownership passes to the DIR stream.
    let stream = unsafe { libc::fdopendir(raw) };
    if stream.is_null() {
        let err = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so we still own `raw`.
        unsafe { libc::close(raw) };
        return Err(err);
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: `stream` is a live DIR stream; the entry is valid until the next readdir.
        let entry = unsafe { libc::readdir64(stream) };
        if entry.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated array inside the live entry.
        let (name, d_type) = unsafe { (CStr::from_ptr((*entry).d_name.as_ptr()), (*entry).d_type) };
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        // Non-UTF-8 names cannot be represented in FileEntry; skip them.
        if let Ok(text) = std::str::from_utf8(bytes) {
            out.push((text.to_string(), d_type));
        }
    }
    // SAFETY: closing the stream we opened (also closes `raw`).
    unsafe { libc::closedir(stream) };
    Ok(out)
}
