//! Streamed one-shot runs that outlive their socket.
//!
//! A `stream: true` run on `/ws` keeps its newest events in its engine log
//! ([`runnel_engine::log`]), at most [`RING_BYTES`], and a forwarder task copies the log to the
//! socket attached to the run, turning each event into its message. Only events given to a
//! socket may leave the log; when it is full of events no socket has taken yet, the run waits
//! (its program blocks on a full pipe), so a client that reads slowly or not at all costs the
//! server the ring, never the run's whole output. When that socket drops, the run goes on for
//! `run_grace`, waiting for a client to reconnect and send
//! `{"action":"resume","id":RUN,"last_seq":N}`: the new socket gets `resumed`, every event
//! after `N`, then the live ones. Nobody in time: the run is killed. A finished run is kept as
//! long (shorter when a socket was attached at the end), so that an `exit` lost with a
//! connection can still be fetched.
//!
//! Each socket's copy runs in its own forwarder task, so a stalled socket never blocks the
//! log or the next socket's resume (which aborts the old forwarder). A resume from before the
//! log's oldest event is answered `resume_gap`.
//!
//! The registry is here; [`drive`] starts a run and drives it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use runnel_engine::{RunController, RunLog, RunSubscription};
use runnel_protocol::server::ResumedMessage;
use runnel_protocol::ServerMessage;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::AbortHandle;
use tokio::time::{sleep_until, Instant};

use super::outbound::Outbound;
use crate::output::RunMeta;
use crate::quota::RunPermit;

pub(crate) mod drive;

/// Most bytes of events a run's log keeps (one event alone may be larger).
pub(crate) const RING_BYTES: usize = 1 << 20;
/// How long a finished run's log stays when a socket was attached at its end (the `exit` is
/// most likely delivered): long enough for a client whose connection broke right then.
const DELIVERED_LINGER: Duration = Duration::from_secs(5);

/// The resumable runs of every key, by key and run id.
#[derive(Default)]
pub(crate) struct RunRegistry {
    runs: Mutex<HashMap<(String, String), Arc<Resumable>>>,
}

impl RunRegistry {
    /// The log of `key_id`'s run `run_id`, if it is still kept.
    pub(crate) fn get(&self, key_id: &str, run_id: &str) -> Option<Arc<Resumable>> {
        lock(&self.runs)
            .get(&(key_id.to_owned(), run_id.to_owned()))
            .cloned()
    }

    /// Whether `key_id` has a run `run_id` that has not finished (a new run may not take its id).
    pub(crate) fn is_live(&self, key_id: &str, run_id: &str) -> bool {
        self.get(key_id, run_id)
            .is_some_and(|log| !log.is_finished())
    }

    /// Send `signal` to every run of `key_id` that has not finished; how many there were.
    pub(crate) fn kill_all_of(&self, key_id: &str, signal: runnel_engine::Signal) -> usize {
        let logs: Vec<Arc<Resumable>> = lock(&self.runs)
            .iter()
            .filter(|((key, _), log)| key == key_id && !log.is_finished())
            .map(|(_, log)| Arc::clone(log))
            .collect();
        for log in &logs {
            log.controller.signal(signal);
        }
        logs.len()
    }

    /// Stop `key_id`'s streamed run that has been waiting longest for a resume, giving its
    /// quota slot back at once; false when the key has no such run. It ends `killed`, its
    /// `exit` kept in its log for a late resume.
    pub(crate) fn evict_detached(&self, key_id: &str) -> bool {
        let victim = lock(&self.runs)
            .iter()
            .filter(|((key, _), log)| key == key_id && !log.is_finished())
            .filter_map(|(_, log)| {
                let since = lock(&log.attachment).detached_at?;
                lock(&log.permit)
                    .is_some()
                    .then(|| (since, Arc::clone(log)))
            })
            .min_by_key(|(since, _)| *since);
        let Some((_, log)) = victim else {
            return false;
        };
        tracing::debug!(run_id = %log.run_id, %key_id, "stopping a detached run to free its key's slot");
        drop(lock(&log.permit).take());
        log.controller.signal(runnel_engine::Signal::Kill);
        true
    }

    fn insert(&self, log: Arc<Resumable>) {
        let key = (log.key_id.clone(), log.run_id.clone());
        lock(&self.runs).insert(key, log);
    }

    fn remove(&self, log: &Arc<Resumable>) {
        let key = (log.key_id.clone(), log.run_id.clone());
        let mut runs = lock(&self.runs);
        if runs.get(&key).is_some_and(|kept| Arc::ptr_eq(kept, log)) {
            runs.remove(&key);
        }
    }
}

/// One streamed run: its log, and the socket its events go to.
pub(crate) struct Resumable {
    key_id: String,
    run_id: String,
    controller: RunController,
    /// The run's events (kept by the engine).
    events: Arc<RunLog>,
    meta: RunMeta,
    /// Whether the run ended (or was stopped for want of a socket).
    finished: watch::Sender<bool>,
    attachment: Mutex<Attachment>,
    /// Woken when a socket attaches or goes.
    attachment_changed: Notify,
    /// The highest client `stdin_seq` applied.
    stdin_seq: AtomicU64,
    /// The run's slot in its key's quota, until it ends or is evicted.
    permit: Mutex<Option<RunPermit>>,
}

#[derive(Default)]
struct Attachment {
    forwarder: Option<Forwarder>,
    /// Since when no socket has been attached.
    detached_at: Option<Instant>,
}

struct Forwarder {
    outbound: mpsc::Sender<Outbound>,
    task: AbortHandle,
}

impl Resumable {
    /// The run's controller (stdin and signals).
    pub(crate) fn controller(&self) -> &RunController {
        &self.controller
    }

    /// Take the client's stdin number `number` once: false when it was applied already.
    pub(crate) fn accept_stdin_seq(&self, number: u64) -> bool {
        self.stdin_seq.fetch_max(number, Ordering::SeqCst) < number
    }

    /// Whether the run has ended (its `exit` is in the log).
    pub(crate) fn is_finished(&self) -> bool {
        *self.finished.borrow()
    }

    /// Resolves when the run has ended.
    pub(crate) async fn finished(&self) {
        let mut finished = self.finished.subscribe();
        let _ = finished.wait_for(|finished| *finished).await;
    }

    /// Attach `outbound` (a reconnected socket): it gets `resumed`, every event after
    /// `last_seq`, then the live ones. A socket attached before stops getting events. Err with
    /// the oldest seq kept when events after `last_seq` are no longer kept.
    pub(crate) fn resume(
        self: &Arc<Self>,
        outbound: mpsc::Sender<Outbound>,
        last_seq: u64,
    ) -> Result<(), u64> {
        let reader = self.events.subscribe(last_seq).map_err(|gap| gap.oldest)?;
        let resumed = ServerMessage::Resumed(ResumedMessage {
            id: self.run_id.clone(),
            seq: self.events.last_seq(),
            stdin_seq: self.stdin_seq.load(Ordering::SeqCst),
        });
        self.attach(outbound, reader, Some(resumed));
        Ok(())
    }

    /// The socket `outbound` went away: detach it (if it is still the attached one), so the
    /// grace period starts.
    pub(crate) fn detach(&self, outbound: &mpsc::Sender<Outbound>) {
        let mut attachment = lock(&self.attachment);
        let attached = attachment
            .forwarder
            .as_ref()
            .is_some_and(|forwarder| forwarder.outbound.same_channel(outbound));
        if attached {
            if let Some(forwarder) = attachment.forwarder.take() {
                forwarder.task.abort();
            }
            attachment.detached_at = Some(Instant::now());
            drop(attachment);
            self.attachment_changed.notify_waiters();
        }
    }

    fn attach(
        self: &Arc<Self>,
        outbound: mpsc::Sender<Outbound>,
        reader: RunSubscription,
        first: Option<ServerMessage>,
    ) {
        let task = tokio::spawn(forward(Arc::clone(self), outbound.clone(), reader, first));
        let mut attachment = lock(&self.attachment);
        let forwarder = Forwarder {
            outbound,
            task: task.abort_handle(),
        };
        if let Some(previous) = attachment.forwarder.replace(forwarder) {
            previous.task.abort();
        }
        attachment.detached_at = None;
        drop(attachment);
        self.attachment_changed.notify_waiters();
    }

    fn finish(&self) {
        self.finished.send_replace(true);
    }

    fn is_attached(&self) -> bool {
        lock(&self.attachment).forwarder.is_some()
    }

    /// Resolves once no socket has been attached for `grace`.
    async fn abandoned(&self, grace: Duration) {
        loop {
            let changed = self.attachment_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let detached_at = lock(&self.attachment).detached_at;
            match detached_at {
                Some(since) => tokio::select! {
                    () = sleep_until(since + grace) => return,
                    () = changed => {}
                },
                None => changed.await,
            }
        }
    }
}

/// Copy the run's log to one socket from `reader` on, `first` before anything. Each event is
/// taken (may leave the log) once it is in the socket's queue.
async fn forward(
    run: Arc<Resumable>,
    outbound: mpsc::Sender<Outbound>,
    mut reader: RunSubscription,
    first: Option<ServerMessage>,
) {
    if let Some(first) = first {
        if outbound.send(Outbound::from(first)).await.is_err() {
            return run.detach(&outbound);
        }
    }
    while let Some(batch) = reader.next_batch().await {
        let Ok(batch) = batch else {
            // Dropped before this socket got it: it cannot continue without a gap.
            return run.detach(&outbound);
        };
        for entry in batch {
            let message = run.meta.message(&entry);
            if outbound.send(Outbound::from(message)).await.is_err() {
                return run.detach(&outbound);
            }
            reader.taken(entry.seq);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
