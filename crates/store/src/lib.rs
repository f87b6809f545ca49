//! Runnel's store: API keys (only their SHA-256 is kept), per-key quotas, and run history, in
//! one SQLite file (`DATA_DIR/runnel.db`, WAL mode).
//!
//! The server and `runnel keys ...` may open the same database at once: WAL lets one write
//! while the other reads, and [`Store::authenticate`] reads the database on every call, so a
//! revoke made by another process takes effect at the next connection or request.
//!
//! # Layout
//! - [`Store`] (this file): opening, the shared connection.
//! - `schema`: connection settings and numbered migrations.
//! - [`keys`] holds create, list, revoke, authenticate, and [`KeyQuota`] with its defaults.
//! - [`runs`] holds run records and usage queries; `writer` the background writer (retries
//!   while the disk is full, retention).
//! - `space`: telling a full disk from other write failures.
//! - [`error`] holds [`StoreError`].

pub mod error;
pub mod keys;
pub mod runs;
mod schema;
mod space;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use error::StoreError;
pub use keys::{KeyQuota, KeyRecord, KeyScope};
pub use runs::{KeyUsage, RunRecord};
pub use writer::HistoryHealth;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "runnel.db";

/// A handle on the store; cheap to clone, shared across threads.
///
/// Key operations use one connection behind a mutex (each is a single indexed statement);
/// run history goes through its own connection on a background writer thread, so a batch of
/// inserts never delays authentication. The writer drains its queue when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    connection: Mutex<Connection>,
    writer: writer::RunWriter,
}

impl Store {
    /// Creates the dir if needed, opens `DIR/runnel.db` (WAL, busy timeout) and applies the
    /// schema migrations it lacks.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(DATABASE_FILE);
        let full = |error: StoreError| error.or_disk_full("open the store", data_dir);
        let mut connection = schema::open_connection(&path).map_err(full)?;
        schema::migrate(&mut connection, &path).map_err(full)?;
        let writer =
            writer::RunWriter::start(schema::open_connection(&path).map_err(full)?, &path)?;
        tracing::debug!(path = %path.display(), "opened store");
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                connection: Mutex::new(connection),
                writer,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The data directory (the database file's).
    pub(crate) fn dir(&self) -> &Path {
        self.inner.path.parent().unwrap_or(Path::new("."))
    }

    /// The shared connection. A panic while it was held leaves SQLite itself consistent (an
    /// open transaction rolls back when its guard drops), so a poisoned lock is still usable.
    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.inner
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Now, in unix seconds (0 if the clock is before 1970).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
