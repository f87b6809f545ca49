//! Opening a connection (WAL, busy timeout) and migrating the schema.
//!
//! Migrations are numbered SQL scripts applied in order inside one `BEGIN IMMEDIATE`
//! transaction, so two processes opening the same database at once serialize on the write lock
//! and the second one finds nothing left to do. The applied versions live in `schema_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::StoreError;

/// How long a statement waits for another connection's write lock before failing.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, as numbered migrations. Append new versions; never edit an applied one.
pub(crate) const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        "CREATE TABLE api_keys (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        prefix           TEXT NOT NULL,
        key_hash         TEXT NOT NULL UNIQUE,  -- hex SHA-256 of the plaintext key
        created_at       INTEGER NOT NULL,      -- unix seconds
        revoked_at       INTEGER,               -- unix seconds; NULL while active
        max_concurrency  INTEGER NOT NULL,
        rate_per_minute  INTEGER NOT NULL,
        max_wall_ms      INTEGER NOT NULL,
        max_cpu_ms       INTEGER NOT NULL,
        max_memory_mb    INTEGER NOT NULL,
        max_pids         INTEGER NOT NULL,
        max_output_bytes INTEGER NOT NULL,
        max_sessions     INTEGER NOT NULL
    );
    CREATE INDEX api_keys_prefix ON api_keys (prefix);
    CREATE TABLE runs (
        seq          INTEGER PRIMARY KEY,
        key_id       TEXT NOT NULL,
        run_id       TEXT NOT NULL,
        language     TEXT NOT NULL,
        status       TEXT NOT NULL,
        wall_ms      REAL NOT NULL,
        cpu_ms       REAL NOT NULL,
        memory_bytes INTEGER NOT NULL,
        finished_at  INTEGER NOT NULL           -- unix seconds
    );
    CREATE INDEX runs_key_finished ON runs (key_id, finished_at);",
    ),
    (
        2,
        "ALTER TABLE api_keys ADD COLUMN max_connections INTEGER NOT NULL DEFAULT 256;
    ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'tenant'
        CHECK (scope IN ('tenant', 'operator'));
    ALTER TABLE api_keys ADD COLUMN cpu_ms_per_minute INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE api_keys ADD COLUMN max_total_memory_mb INTEGER NOT NULL DEFAULT 8192;",
    ),
    // Retention (`--history-days`) deletes by age.
    (3, "CREATE INDEX runs_finished ON runs (finished_at);"),
];

/// The newest schema version this build knows.
pub(crate) const SCHEMA_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Opens (creating if needed) the database at `path` with WAL and a busy timeout.
pub(crate) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection =
        Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
    let configure = |connection: &Connection| -> rusqlite::Result<()> {
        connection.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets `runnel keys revoke` write while the server reads, and the server's readers
        // see the revoke at their next statement.
        let _mode: String =
            connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        // NORMAL is durable across application crashes in WAL mode; only a power cut may lose
        // the last transactions (run history), never corrupt the file.
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    };
    configure(&connection).map_err(|source| StoreError::Configure {
        path: path.to_owned(),
        source,
    })?;
    Ok(connection)
}

/// Applies the migrations the database lacks. Idempotent.
pub(crate) fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let migrate_error = |version: u32| {
        move |source| StoreError::Migrate {
            path: path.to_owned(),
            version,
            source,
        }
    };
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(migrate_error(0))?;
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version    INTEGER PRIMARY KEY,
                applied_at INTEGER NOT NULL
            )",
        )
        .map_err(migrate_error(0))?;
    let current: u32 = transaction
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |row| row.get(0),
        )
        .map_err(migrate_error(0))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: current,
            known: SCHEMA_VERSION,
        });
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        tracing::debug!(path = %path.display(), version, "applying schema migration");
        transaction
            .execute_batch(sql)
            .map_err(migrate_error(version))?;
        transaction
            .execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
                (version, crate::unix_now()),
            )
            .map_err(migrate_error(version))?;
    }
    transaction
        .commit()
        .map_err(migrate_error(SCHEMA_VERSION))?;
    Ok(())
}
