//! API keys: creation (plaintext shown once, SHA-256 stored), listing, revocation and lookup.

use rand::TryRngCore;
use rusqlite::{OptionalExtension, Row, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::Store;

/// The text every plaintext key starts with.
pub const KEY_PREFIX: &str = "rk_";
/// Random bytes in a key (shown as twice as many hex characters).
const KEY_RANDOM_BYTES: usize = 24;
/// Length of a plaintext key: the prefix and 48 hex characters.
pub const KEY_LENGTH: usize = KEY_PREFIX.len() + 2 * KEY_RANDOM_BYTES;
/// Characters of the plaintext kept for display (`rk_` and 7 hex characters).
pub const DISPLAY_PREFIX_LENGTH: usize = 10;
/// Random bytes in a key id (`key_` and 16 hex characters).
const ID_RANDOM_BYTES: usize = 8;

/// Default runs in flight per key.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 32;
/// Default requests per minute per key.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60_000;
/// Default maximum wall-clock time of a run, ms.
pub const DEFAULT_MAX_WALL_MS: u64 = 60_000;
/// Default maximum CPU time of a run, ms.
pub const DEFAULT_MAX_CPU_MS: u64 = 60_000;
/// Default maximum memory of a run, MiB.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 1024;
/// Default maximum processes and threads of a run.
pub const DEFAULT_MAX_PIDS: u32 = 256;
/// Default maximum stdout plus stderr bytes of a run (16 MiB).
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 16 * 1024 * 1024;
/// Default maximum live sessions per key.
pub const DEFAULT_MAX_SESSIONS: u32 = 16;
/// Default CPU budget of a key, ms of CPU per minute over all its runs and cells: none.
pub const DEFAULT_CPU_MS_PER_MINUTE: u64 = 0;
/// Default maximum of the memory limits of a key's runs and sessions at once, MiB.
pub const DEFAULT_MAX_TOTAL_MEMORY_MB: u64 = 8192;
/// Default maximum open connections (WebSockets and HTTP connections) per key.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 256;

/// The maximums a key may use; requests ask for less, never more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyQuota {
    /// Runs in flight at once.
    pub max_concurrency: u32,
    /// Requests (runs, session actions) per minute.
    pub rate_per_minute: u32,
    /// Wall-clock time of one run, ms.
    pub max_wall_ms: u64,
    /// CPU time of one run, ms.
    pub max_cpu_ms: u64,
    /// Memory of one run, MiB.
    pub max_memory_mb: u64,
    /// Processes and threads of one run.
    pub max_pids: u32,
    /// Bytes of stdout plus stderr of one run.
    pub max_output_bytes: u64,
    /// Live sessions at once.
    pub max_sessions: u32,
    /// Open connections at once: every socket that authenticated with the key counts.
    pub max_connections: u32,
    /// CPU time of the key's runs and session cells per minute, ms (a bucket holding a
    /// minute's worth, refilled continuously; 0: no budget beyond each run's own limit).
    pub cpu_ms_per_minute: u64,
    /// Memory limits of the key's runs in flight and sessions at once, MiB (0: no maximum
    /// beyond the server's).
    pub max_total_memory_mb: u64,
}

impl Default for KeyQuota {
    fn default() -> Self {
        KeyQuota {
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            rate_per_minute: DEFAULT_RATE_PER_MINUTE,
            max_wall_ms: DEFAULT_MAX_WALL_MS,
            max_cpu_ms: DEFAULT_MAX_CPU_MS,
            max_memory_mb: DEFAULT_MAX_MEMORY_MB,
            max_pids: DEFAULT_MAX_PIDS,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            cpu_ms_per_minute: DEFAULT_CPU_MS_PER_MINUTE,
            max_total_memory_mb: DEFAULT_MAX_TOTAL_MEMORY_MB,
        }
    }
}

/// What a key may do besides running code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyScope {
    /// A tenant: runs, sessions and files of its own, nothing about other keys.
    #[default]
    Tenant,
    /// The operator: also the server-wide figures (`/metrics`, `/api/v1/stats`), which show
    /// every tenant's activity.
    Operator,
}

impl KeyScope {
    /// The stored (and displayed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Tenant => "tenant",
            KeyScope::Operator => "operator",
        }
    }

    fn from_stored(name: &str) -> KeyScope {
        // Anything but `operator` grants nothing more than a tenant has.
        if name == "operator" {
            KeyScope::Operator
        } else {
            KeyScope::Tenant
        }
    }
}

/// An API key as stored: everything but the plaintext, which is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Stable id (`key_` and 16 hex characters).
    pub id: String,
    /// The operator's name for the key.
    pub name: String,
    /// The first 10 characters of the plaintext, for display.
    pub prefix: String,
    /// Creation time, unix seconds.
    pub created_at: i64,
    /// Whether the key was revoked.
    pub revoked: bool,
    /// What the key may do besides running code.
    pub scope: KeyScope,
    /// The key's maximums.
    pub quota: KeyQuota,
}

/// Columns of `api_keys` in the order [`key_from_row`] reads them.
const KEY_COLUMNS: &str = "id, name, prefix, created_at, revoked_at IS NOT NULL, \
    max_concurrency, rate_per_minute, max_wall_ms, max_cpu_ms, max_memory_mb, max_pids, \
    max_output_bytes, max_sessions, max_connections, scope, cpu_ms_per_minute, \
    max_total_memory_mb";

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        created_at: row.get(3)?,
        revoked: row.get(4)?,
        scope: KeyScope::from_stored(&row.get::<_, String>(14)?),
        quota: KeyQuota {
            max_concurrency: row.get(5)?,
            rate_per_minute: row.get(6)?,
            max_wall_ms: row.get(7)?,
            max_cpu_ms: row.get(8)?,
            max_memory_mb: row.get(9)?,
            max_pids: row.get(10)?,
            max_output_bytes: row.get(11)?,
            max_sessions: row.get(12)?,
            max_connections: row.get(13)?,
            cpu_ms_per_minute: row.get(15)?,
            max_total_memory_mb: row.get(16)?,
        },
    })
}

/// Hex SHA-256 of a plaintext key: the only form of the key the database holds.
fn hash_key(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

/// `count` bytes from the operating system's random source, as hex.
fn random_hex(count: usize) -> Result<String, StoreError> {
    let mut bytes = vec![0u8; count];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(StoreError::Randomness)?;
    Ok(hex::encode(bytes))
}

impl Store {
    /// A new key: returns the record and the plaintext key (shown once, never stored: only its
    /// SHA-256 is). The plaintext is `rk_` and 48 hex characters from OS randomness.
    pub fn create_key(
        &self,
        name: &str,
        scope: KeyScope,
        quota: KeyQuota,
    ) -> Result<(KeyRecord, String), StoreError> {
        let plaintext = format!("{KEY_PREFIX}{}", random_hex(KEY_RANDOM_BYTES)?);
        let record = KeyRecord {
            id: format!("key_{}", random_hex(ID_RANDOM_BYTES)?),
            name: name.to_owned(),
            prefix: plaintext[..DISPLAY_PREFIX_LENGTH].to_owned(),
            created_at: crate::unix_now(),
            revoked: false,
            scope,
            quota,
        };
        let connection = self.connection();
        connection
            .execute(
                "INSERT INTO api_keys (id, name, prefix, key_hash, created_at, revoked_at, \
                 max_concurrency, rate_per_minute, max_wall_ms, max_cpu_ms, max_memory_mb, \
                 max_pids, max_output_bytes, max_sessions, max_connections, scope, \
                 cpu_ms_per_minute, max_total_memory_mb) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
                 ?16, ?17)",
                rusqlite::params![
                    record.id,
                    record.name,
                    record.prefix,
                    hash_key(&plaintext),
                    record.created_at,
                    quota.max_concurrency,
                    quota.rate_per_minute,
                    quota.max_wall_ms,
                    quota.max_cpu_ms,
                    quota.max_memory_mb,
                    quota.max_pids,
                    quota.max_output_bytes,
                    quota.max_sessions,
                    quota.max_connections,
                    scope.as_str(),
                    quota.cpu_ms_per_minute,
                    quota.max_total_memory_mb,
                ],
            )
            .map_err(|source| {
                StoreError::InsertKey {
                    path: self.path().to_owned(),
                    id: record.id.clone(),
                    source,
                }
                .or_disk_full("create a key", self.dir())
            })?;
        tracing::debug!(key_id = %record.id, prefix = %record.prefix, "created api key");
        Ok((record, plaintext))
    }

    /// Every key, revoked ones included, oldest first.
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let connection = self.connection();
        let list = || -> rusqlite::Result<Vec<KeyRecord>> {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))?;
            let rows = statement.query_map([], key_from_row)?;
            rows.collect()
        };
        list().map_err(|source| StoreError::ListKeys {
            path: self.path().to_owned(),
            source,
        })
    }

    /// The ids of every revoked key, with the database's data version: a number that changes
    /// whenever another connection (another process revoking a key, or this store's run
    /// writer) commits, so a caller polling it knows when to look again.
    pub fn revoked_key_ids(&self) -> Result<(i64, Vec<String>), StoreError> {
        let connection = self.connection();
        let read = || -> rusqlite::Result<(i64, Vec<String>)> {
            let version = connection.query_row("PRAGMA data_version", [], |row| row.get(0))?;
            let mut statement = connection.prepare_cached(
                "SELECT id FROM api_keys WHERE revoked_at IS NOT NULL ORDER BY id",
            )?;
            let ids = statement
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((version, ids))
        };
        read().map_err(|source| StoreError::ListKeys {
            path: self.path().to_owned(),
            source,
        })
    }

    /// The database's data version (see [`Store::revoked_key_ids`]); one cheap pragma.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        let connection = self.connection();
        connection
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|source| StoreError::ListKeys {
                path: self.path().to_owned(),
                source,
            })
    }

    /// Revokes the active key whose id is `identifier`, or the one active key whose id or
    /// display prefix starts with `identifier` (the whole plaintext key works too).
    ///
    /// `Ok(false)` when no active key matches; [`StoreError::AmbiguousPrefix`] when several do.
    pub fn revoke_key(&self, identifier: &str) -> Result<bool, StoreError> {
        let identifier = identifier.trim();
        if identifier.is_empty() {
            return Err(StoreError::EmptyIdentifier);
        }
        let revoke_error = |source| {
            StoreError::RevokeKey {
                path: self.path().to_owned(),
                identifier: identifier.to_owned(),
                source,
            }
            .or_disk_full("revoke a key", self.dir())
        };
        let mut connection = self.connection();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(revoke_error)?;
        let matches: Vec<String> = {
            let mut statement = transaction
                .prepare_cached(
                    "SELECT id FROM api_keys WHERE revoked_at IS NULL AND ( \
                     substr(id, 1, length(?1)) = ?1 OR substr(prefix, 1, length(?1)) = ?1 \
                     OR key_hash = ?2) ORDER BY id",
                )
                .map_err(revoke_error)?;
            let rows = statement
                .query_map((identifier, hash_key(identifier)), |row| row.get(0))
                .map_err(revoke_error)?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(revoke_error)?
        };
        // An exact id wins over keys it happens to be a prefix of.
        let target = match matches.iter().find(|id| id.as_str() == identifier) {
            Some(id) => id.clone(),
            None => match matches.as_slice() {
                [] => return Ok(false),
                [only] => only.clone(),
                _ => {
                    return Err(StoreError::AmbiguousPrefix {
                        identifier: identifier.to_owned(),
                        matches,
                    })
                }
            },
        };
        transaction
            .execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                (&target, crate::unix_now()),
            )
            .map_err(revoke_error)?;
        transaction.commit().map_err(revoke_error)?;
        tracing::debug!(key_id = %target, "revoked api key");
        Ok(true)
    }

    /// The active key with this plaintext, or `None` (unknown or revoked).
    ///
    /// One indexed lookup by hash per call, with no cache, so a revoke made by another process
    /// counts from the next call on. It blocks for the lookup (microseconds).
    pub fn authenticate(&self, plaintext: &str) -> Result<Option<KeyRecord>, StoreError> {
        // Anything not shaped like a key cannot match; skip the database.
        if plaintext.len() != KEY_LENGTH || !plaintext.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let connection = self.connection();
        let lookup = || -> rusqlite::Result<Option<KeyRecord>> {
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
            ))?;
            statement
                .query_row([hash_key(plaintext)], key_from_row)
                .optional()
        };
        lookup().map_err(|source| StoreError::Authenticate {
            path: self.path().to_owned(),
            source,
        })
    }

    /// Number of active (not revoked) keys.
    pub fn active_key_count(&self) -> Result<u64, StoreError> {
        let connection = self.connection();
        connection
            .query_row(
                "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL",
                [],
                |row| row.get(0),
            )
            .map_err(|source| StoreError::CountKeys {
                path: self.path().to_owned(),
                source,
            })
    }
}
