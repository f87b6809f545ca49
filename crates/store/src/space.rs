//! Telling a full disk from other write failures, so that the error names it.
//!
//! SQLite reports a full disk as `SQLITE_FULL` when a page write fails, but as a generic I/O
//! error when growing the WAL index (`xShmMap`) or the journal fails. So both are checked
//! against the directory itself: a small probe write there that fails with `ENOSPC` (or
//! `EDQUOT`) means the disk (or the quota) is full.

use std::io::Write;
use std::path::Path;

use crate::error::StoreError;

/// Bytes the probe writes: a WAL frame and a bit.
const PROBE_BYTES: usize = 8192;

/// Whether a write of a few KiB in `dir` fails for lack of space.
pub(crate) fn dir_is_full(dir: &Path) -> bool {
    let probe = dir.join(".runnel-space-probe");
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        file.write_all(&[0_u8; PROBE_BYTES])?;
        file.sync_data()
    });
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => false,
        Err(error) => matches!(error.raw_os_error(), Some(code) if code == 28 || code == 122),
    }
}

/// Whether `error` may be a full disk (checked against the disk with [`dir_is_full`]).
pub(crate) fn may_be_full(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure)
    )
}

impl StoreError {
    /// This error, or [`StoreError::DiskFull`] naming `action` when the cause is a full data
    /// directory.
    pub(crate) fn or_disk_full(self, action: &str, dir: &Path) -> StoreError {
        let full = match &self {
            StoreError::Open { source, .. }
            | StoreError::Configure { source, .. }
            | StoreError::Migrate { source, .. }
            | StoreError::InsertKey { source, .. }
            | StoreError::RevokeKey { source, .. } => may_be_full(source) && dir_is_full(dir),
            _ => false,
        };
        if full {
            StoreError::DiskFull {
                action: action.to_owned(),
                dir: dir.to_owned(),
                cause: Box::new(self),
            }
        } else {
            self
        }
    }
}
