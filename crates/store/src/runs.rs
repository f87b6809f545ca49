//! Run history: finished runs, written by a background writer (`writer.rs`) so that
//! recording a run never blocks the engine on disk; usage queries.

use crate::error::StoreError;
use crate::Store;

/// One finished run, for usage and history.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// The key that ran it.
    pub key_id: String,
    /// The run id.
    pub run_id: String,
    /// The language id.
    pub language: String,
    /// The run status's wire name (`ok`, `timeout`, ...).
    pub status: String,
    /// Wall time of the run stage, ms.
    pub wall_ms: f64,
    /// CPU time of the run stage, ms.
    pub cpu_ms: f64,
    /// Peak memory, bytes.
    pub memory_bytes: u64,
    /// When it finished, unix seconds.
    pub finished_at: i64,
}

/// What a key has used, from its recorded runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KeyUsage {
    /// Runs recorded.
    pub runs: u64,
    /// CPU time of those runs, ms.
    pub cpu_ms: f64,
}

impl Store {
    /// Records a finished run. Never blocks: the record is queued for a background writer that
    /// batches inserts. While writes fail (a full disk) records wait in memory, up to a bound,
    /// and are written once writes work again; what is dropped is counted (see
    /// [`Store::history_health`]).
    pub fn record_run(&self, record: RunRecord) {
        self.inner.writer.record(record);
    }

    /// Waits until every run recorded before this call is written (or, while writes fail,
    /// tried once).
    pub fn flush(&self) {
        self.inner.writer.flush();
    }

    /// Keep run history for `days` days (0: for ever): older runs are deleted now and every
    /// hour.
    pub fn set_history_retention(&self, days: u32) {
        self.inner.writer.retain(days);
    }

    /// How the run history's writes are going.
    pub fn history_health(&self) -> crate::HistoryHealth {
        self.inner.writer.health()
    }

    /// Runs recorded for a key (written ones: call [`Store::flush`] first to include the
    /// queue).
    pub fn usage(&self, key_id: &str) -> Result<KeyUsage, StoreError> {
        let connection = self.connection();
        connection
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(cpu_ms), 0.0) FROM runs WHERE key_id = ?1",
                [key_id],
                |row| {
                    Ok(KeyUsage {
                        runs: row.get(0)?,
                        cpu_ms: row.get(1)?,
                    })
                },
            )
            .map_err(|source| StoreError::Usage {
                path: self.path().to_owned(),
                key_id: key_id.to_owned(),
                source,
            })
    }
}
