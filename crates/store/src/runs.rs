//! Run history: a background thread batches finished runs into the `runs` table, so that
//! recording a run never blocks the engine on disk.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::error::StoreError;
use crate::Store;

/// Records queued for the writer before [`Store::record_run`] starts dropping them (with a
/// warning) rather than blocking or growing without bound.
const QUEUE_CAPACITY: usize = 65_536;
/// Most records written in one transaction.
const BATCH_MAX: usize = 1024;

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

/// A message to the writer thread.
enum Command {
    Record(Box<RunRecord>),
    /// Write everything queued before this, then answer.
    Flush(SyncSender<()>),
}

/// The background writer: its queue and its thread. Dropping it drains the queue and joins.
pub(crate) struct RunWriter {
    sender: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl RunWriter {
    /// Starts the writer thread on its own connection.
    pub(crate) fn start(connection: Connection, path: &Path) -> Result<RunWriter, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(QUEUE_CAPACITY);
        let thread_path = path.to_owned();
        let thread = std::thread::Builder::new()
            .name("runnel-store-writer".to_owned())
            .spawn(move || write_loop(connection, &thread_path, receiver))
            .map_err(|source| StoreError::SpawnWriter {
                path: path.to_owned(),
                source,
            })?;
        Ok(RunWriter {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    fn record(&self, record: RunRecord) {
        let Some(sender) = &self.sender else { return };
        match sender.try_send(Command::Record(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::warn!("run history queue is full: dropping a run record");
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("run history writer has stopped: dropping a run record");
            }
        }
    }

    fn flush(&self) {
        let Some(sender) = &self.sender else { return };
        let (done_sender, done_receiver) = mpsc::sync_channel(1);
        if sender.send(Command::Flush(done_sender)).is_ok() {
            // An error here means the writer exited; nothing is left to wait for.
            let _ = done_receiver.recv();
        }
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        // Closing the channel makes the writer drain what is queued and exit.
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("run history writer panicked");
            }
        }
    }
}

fn write_loop(mut connection: Connection, path: &Path, receiver: Receiver<Command>) {
    let mut batch: Vec<RunRecord> = Vec::new();
    let mut waiting: Vec<SyncSender<()>> = Vec::new();
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Record(record) => batch.push(*record),
                Command::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH_MAX {
                next = receiver.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(error) = insert_batch(&mut connection, &batch) {
                tracing::error!(
                    path = %path.display(),
                    error = %error,
                    dropped = batch.len(),
                    "write run history"
                );
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

fn insert_batch(connection: &mut Connection, batch: &[RunRecord]) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO runs (key_id, run_id, language, status, wall_ms, cpu_ms, memory_bytes, \
             finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for record in batch {
            statement.execute(rusqlite::params![
                record.key_id,
                record.run_id,
                record.language,
                record.status,
                record.wall_ms,
                record.cpu_ms,
                // Peak memory above i64::MAX bytes is not a real figure; clamp, never fail.
                i64::try_from(record.memory_bytes).unwrap_or(i64::MAX),
                record.finished_at,
            ])?;
        }
    }
    transaction.commit()
}

impl Store {
    /// Records a finished run. Never blocks: the record is queued for a background writer that
    /// batches inserts; if the queue is full the record is dropped with a warning.
    pub fn record_run(&self, record: RunRecord) {
        self.inner.writer.record(record);
    }

    /// Waits until every run recorded before this call is written.
    pub fn flush(&self) {
        self.inner.writer.flush();
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
