//! The store's error type: one variant per step that can fail, each naming the database path.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("create data dir {path}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be opened.
    #[error("open database {path}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Setting the connection's pragmas (WAL, busy timeout) failed.
    #[error("configure database {path}")]
    Configure {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A schema migration failed.
    #[error("migrate database {path} to schema version {version}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The version being applied (0 while reading the current version).
        version: u32,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The database has a newer schema than this binary knows.
    #[error("database {path} has schema version {found}, newer than the {known} this build knows")]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// The operating system's random source failed while making a key.
    #[error("read os randomness for a new key")]
    Randomness(#[source] rand::rand_core::OsError),
    /// Inserting a new key failed.
    #[error("insert key {id} into {path}")]
    InsertKey {
        /// The database file.
        path: PathBuf,
        /// The new key's id.
        id: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Listing keys failed.
    #[error("list keys in {path}")]
    ListKeys {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Revoking a key failed.
    #[error("revoke key `{identifier}` in {path}")]
    RevokeKey {
        /// The database file.
        path: PathBuf,
        /// The id or prefix given.
        identifier: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The id or prefix given to revoke was empty.
    #[error("an empty key id or prefix matches every key: give an id or a prefix")]
    EmptyIdentifier,
    /// The prefix given to revoke matches more than one active key.
    #[error("key prefix `{identifier}` is ambiguous: it matches {}", matches.join(", "))]
    AmbiguousPrefix {
        /// The prefix given.
        identifier: String,
        /// The ids of the keys it matches.
        matches: Vec<String>,
    },
    /// Looking a key up by its hash failed.
    #[error("authenticate key in {path}")]
    Authenticate {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Counting active keys failed.
    #[error("count active keys in {path}")]
    CountKeys {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// Reading a key's usage failed.
    #[error("read usage of key {key_id} in {path}")]
    Usage {
        /// The database file.
        path: PathBuf,
        /// The key.
        key_id: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The data directory is full: nothing could be written (what is stored is unchanged).
    #[error(
        "{action}: the data dir {dir} is full (no space left on device); free some space \
         there. The keys and run history already stored are intact"
    )]
    DiskFull {
        /// What was being done.
        action: String,
        /// The data directory.
        dir: PathBuf,
        /// The error SQLite gave.
        #[source]
        cause: Box<StoreError>,
    },
    /// Starting the background run writer failed.
    #[error("start run writer thread for {path}")]
    SpawnWriter {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
