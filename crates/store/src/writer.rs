//! The run-history writer: a background thread that batches records into the `runs` table.
//!
//! A failed write (a full disk) loses nothing at once: the records stay in memory, up to
//! [`UNWRITTEN_MAX`], and are written, in order, at the next try (every [`RETRY_PAUSE`]) that
//! works. Records past that bound, or past the queue's, are dropped and counted. The state is
//! shared with the store's handle as [`HistoryHealth`], for `/healthz` and `/metrics`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::error::StoreError;
use crate::runs::RunRecord;

/// Records queued for the writer before [`crate::Store::record_run`] starts dropping them
/// rather than blocking or growing without bound.
const QUEUE_CAPACITY: usize = 65_536;
/// Most records written in one transaction.
const BATCH_MAX: usize = 1024;
/// Records kept in memory while writes fail (about 200 bytes each: 20 MiB at most).
pub(crate) const UNWRITTEN_MAX: usize = 100_000;
/// Pause between tries while writes fail.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How often retention deletes old runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How the run history's writes are going.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryHealth {
    /// Records waiting in memory to be written (writes are failing).
    pub unwritten: u64,
    /// Records dropped since start (the queue or the unwritten bound was full): never written.
    pub dropped: u64,
    /// Failed writes since start.
    pub write_errors: u64,
    /// Why writes fail now; `None` while they work.
    pub failing: Option<String>,
    /// Whether they fail because the data dir is full.
    pub disk_full: bool,
    /// Runs deleted by retention since start.
    pub pruned: u64,
}

/// A message to the writer thread.
enum Command {
    Record(Box<RunRecord>),
    /// Write everything queued before this (or try once), then answer.
    Flush(SyncSender<()>),
    /// Keep this many days of history (0: all).
    Retain(u32),
}

/// The background writer: its queue and its thread. Dropping it drains the queue and joins.
pub(crate) struct RunWriter {
    sender: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
    health: Arc<Mutex<HistoryHealth>>,
}

impl RunWriter {
    /// Starts the writer thread on its own connection.
    pub(crate) fn start(connection: Connection, path: &Path) -> Result<RunWriter, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(QUEUE_CAPACITY);
        let health = Arc::new(Mutex::new(HistoryHealth::default()));
        let writer = Writer {
            connection,
            path: path.to_owned(),
            unwritten: VecDeque::new(),
            health: Arc::clone(&health),
        };
        let thread = std::thread::Builder::new()
            .name("runnel-store-writer".to_owned())
            .spawn(move || writer.run(&receiver))
            .map_err(|source| StoreError::SpawnWriter {
                path: path.to_owned(),
                source,
            })?;
        Ok(RunWriter {
            sender: Some(sender),
            thread: Some(thread),
            health,
        })
    }

    pub(crate) fn record(&self, record: RunRecord) {
        let Some(sender) = &self.sender else { return };
        match sender.try_send(Command::Record(Box::new(record))) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                lock(&self.health).dropped += 1;
                tracing::warn!("run history queue is full: dropping a run record");
            }
            Err(TrySendError::Disconnected(_)) => {
                lock(&self.health).dropped += 1;
                tracing::error!("run history writer has stopped: dropping a run record");
            }
        }
    }

    pub(crate) fn flush(&self) {
        let Some(sender) = &self.sender else { return };
        let (done_sender, done_receiver) = mpsc::sync_channel(1);
        if sender.send(Command::Flush(done_sender)).is_ok() {
            // An error here means the writer exited; nothing is left to wait for.
            let _ = done_receiver.recv();
        }
    }

    pub(crate) fn retain(&self, days: u32) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Command::Retain(days));
        }
    }

    pub(crate) fn health(&self) -> HistoryHealth {
        lock(&self.health).clone()
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

/// The thread's side.
struct Writer {
    connection: Connection,
    path: PathBuf,
    /// Records received and not yet written, oldest first.
    unwritten: VecDeque<RunRecord>,
    health: Arc<Mutex<HistoryHealth>>,
}

impl Writer {
    fn run(mut self, receiver: &Receiver<Command>) {
        let mut waiting: Vec<SyncSender<()>> = Vec::new();
        let mut retention: u32 = 0;
        let mut pruned_at: Option<Instant> = None;
        loop {
            // While writes fail, wake up to try again even if nothing arrives.
            let first = if self.unwritten.is_empty() {
                match receiver.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break,
                }
            } else {
                match receiver.recv_timeout(RETRY_PAUSE) {
                    Ok(command) => Some(command),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut next = first;
            let mut taken = 0;
            while let Some(command) = next.take() {
                match command {
                    Command::Record(record) => {
                        self.keep(*record);
                        taken += 1;
                    }
                    Command::Flush(done) => waiting.push(done),
                    Command::Retain(days) => {
                        retention = days;
                        pruned_at = None;
                    }
                }
                if taken < BATCH_MAX {
                    next = receiver.try_recv().ok();
                }
            }
            self.write_unwritten();
            let due = pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
            if retention > 0 && due && self.unwritten.is_empty() {
                self.prune(retention);
                pruned_at = Some(Instant::now());
            }
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
        }
        // The store is closing: a last try.
        self.write_unwritten();
        if !self.unwritten.is_empty() {
            let lost = self.unwritten.len();
            lock(&self.health).dropped += lost as u64;
            tracing::error!(path = %self.path.display(), lost, "run history not written at shutdown");
        }
    }

    /// Queue `record` for writing, or drop it (counted) past the bound.
    fn keep(&mut self, record: RunRecord) {
        if self.unwritten.len() >= UNWRITTEN_MAX {
            lock(&self.health).dropped += 1;
            return;
        }
        self.unwritten.push_back(record);
    }

    /// Write what waits, in batches and in order, until done or a write fails.
    fn write_unwritten(&mut self) {
        let caught_up = lock(&self.health).failing.is_some();
        while !self.unwritten.is_empty() {
            let count = self.unwritten.len().min(BATCH_MAX);
            let batch = &self.unwritten.make_contiguous()[..count];
            match insert_batch(&mut self.connection, batch) {
                Ok(()) => {
                    self.unwritten.drain(..count);
                }
                Err(error) => {
                    self.failed(&error);
                    return;
                }
            }
        }
        let mut health = lock(&self.health);
        health.unwritten = 0;
        if caught_up {
            health.failing = None;
            health.disk_full = false;
            tracing::warn!(path = %self.path.display(), "run history is written again; nothing waits");
        }
    }

    fn failed(&self, error: &rusqlite::Error) {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let disk_full = crate::space::may_be_full(error) && crate::space::dir_is_full(dir);
        let reason = if disk_full {
            format!(
                "the data dir {} is full (no space left on device)",
                dir.display()
            )
        } else {
            format!("{error}")
        };
        let mut health = lock(&self.health);
        health.write_errors += 1;
        health.unwritten = self.unwritten.len() as u64;
        if health.failing.is_none() {
            tracing::error!(
                path = %self.path.display(),
                %reason,
                unwritten = self.unwritten.len(),
                "writing run history fails: records wait in memory and are retried every second"
            );
        }
        health.failing = Some(reason);
        health.disk_full = disk_full;
    }

    /// Delete runs that finished more than `days` days ago.
    fn prune(&mut self, days: u32) {
        let cutoff = crate::unix_now().saturating_sub(i64::from(days) * 86_400);
        match self
            .connection
            .execute("DELETE FROM runs WHERE finished_at < ?1", [cutoff])
        {
            Ok(deleted) => {
                lock(&self.health).pruned += deleted as u64;
                if deleted > 0 {
                    tracing::info!(
                        deleted,
                        days,
                        "run history older than the retention deleted"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "deleting old run history failed"),
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
