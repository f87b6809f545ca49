//! Streamed one-shot runs that outlive their socket.
//!
//! Every event of a `stream: true` run on `/ws` goes into the run's [`RunLog`], a ring of at
//! most [`RING_BYTES`] of the newest events, and a forwarder task copies the log to the socket
//! attached to the run. Only events given to a socket leave the ring; when it is full of events
//! no socket has taken yet, the run waits (its program blocks on a full pipe), so a client that
//! reads slowly or not at all costs the server the ring, never the run's whole output.
//! When that socket drops, the run goes on for `run_grace`, waiting for a client to reconnect
//! and send `{"action":"resume","id":RUN,"last_seq":N}`: the new socket gets `resumed`, every
//! event after `N`, then the live ones. Nobody in time: the run is killed. A finished run's log
//! is kept as long (shorter when a socket was attached at the end), so that an `exit` lost
//! with a connection can still be fetched.
//!
//! Each socket's copy runs in its own forwarder task, so a stalled socket never blocks the
//! log or the next socket's resume (which aborts the old forwarder). A resume from before the
//! ring's oldest event is answered `resume_gap`.
//!
//! The registry and the logs are here; [`drive`] starts a run into its log and drives it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use runnel_engine::RunController;
use runnel_protocol::server::ResumedMessage;
use runnel_protocol::ServerMessage;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::AbortHandle;
use tokio::time::{sleep_until, Instant};

use super::outbound::Outbound;
use crate::quota::RunPermit;

pub(crate) mod drive;

/// Messages between the run and its log.
const LOG_CHANNEL: usize = 8;
/// Most bytes of serialized events a run's log keeps (one event alone may be larger).
pub(crate) const RING_BYTES: usize = 1 << 20;
/// How long a finished run's log stays when a socket was attached at its end (the `exit` is
/// most likely delivered): long enough for a client whose connection broke right then.
const DELIVERED_LINGER: Duration = Duration::from_secs(5);

/// The resumable runs of every key, by key and run id.
#[derive(Default)]
pub(crate) struct RunRegistry {
    runs: Mutex<HashMap<(String, String), Arc<RunLog>>>,
}

impl RunRegistry {
    /// The log of `key_id`'s run `run_id`, if it is still kept.
    pub(crate) fn get(&self, key_id: &str, run_id: &str) -> Option<Arc<RunLog>> {
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
        let logs: Vec<Arc<RunLog>> = lock(&self.runs)
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

    fn insert(&self, log: Arc<RunLog>) {
        let key = (log.key_id.clone(), log.run_id.clone());
        lock(&self.runs).insert(key, log);
    }

    fn remove(&self, log: &Arc<RunLog>) {
        let key = (log.key_id.clone(), log.run_id.clone());
        let mut runs = lock(&self.runs);
        if runs.get(&key).is_some_and(|kept| Arc::ptr_eq(kept, log)) {
            runs.remove(&key);
        }
    }
}

/// The events of one streamed run, and the socket they go to.
pub(crate) struct RunLog {
    key_id: String,
    run_id: String,
    controller: RunController,
    /// The newest serialized events.
    ring: Mutex<Ring>,
    /// Woken when the attached socket has taken events (room may have been made).
    taken: Notify,
    /// How many events there are, and whether the run ended.
    progress: watch::Sender<Progress>,
    attachment: Mutex<Attachment>,
    /// Woken when a socket attaches or goes.
    attachment_changed: Notify,
    /// The highest client `stdin_seq` applied.
    stdin_seq: AtomicU64,
    /// The run's slot in its key's quota, until it ends or is evicted.
    permit: Mutex<Option<RunPermit>>,
}

/// The newest events of a run: event `seq` is at `events[seq - 1 - dropped]`.
#[derive(Default)]
struct Ring {
    events: VecDeque<String>,
    /// Events dropped from the front: the oldest kept is `dropped + 1`.
    dropped: usize,
    bytes: usize,
    /// Events the attached socket has been given (those before may be dropped).
    given: usize,
    /// Counts attachments: only the forwarder of the latest one moves `given`.
    attachment: u64,
}

impl Ring {
    /// Add `text` if it fits, dropping given events to make room; gives it back when the ring
    /// is full of events not given yet. Returns how many events there have been.
    fn push(&mut self, text: String) -> Result<usize, String> {
        let wanted = text.len();
        while self.bytes + wanted > RING_BYTES && self.dropped < self.given {
            let Some(oldest) = self.events.pop_front() else {
                break;
            };
            self.bytes -= oldest.len();
            self.dropped += 1;
        }
        if self.bytes + wanted > RING_BYTES && !self.events.is_empty() {
            return Err(text);
        }
        self.bytes += wanted;
        self.events.push_back(text);
        Ok(self.dropped + self.events.len())
    }

    /// Event number `index` (0 for seq 1), if still kept.
    fn get(&self, index: usize) -> Option<String> {
        index
            .checked_sub(self.dropped)
            .and_then(|at| self.events.get(at))
            .cloned()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    events: usize,
    finished: bool,
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

impl RunLog {
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
        self.progress.borrow().finished
    }

    /// Resolves when the run has ended.
    pub(crate) async fn finished(&self) {
        let mut progress = self.progress.subscribe();
        let _ = progress.wait_for(|progress| progress.finished).await;
    }

    /// Attach `outbound` (a reconnected socket): it gets `resumed`, every event after
    /// `last_seq`, then the live ones. A socket attached before stops getting events. Err with
    /// the oldest seq kept when events after `last_seq` are no longer kept.
    pub(crate) fn resume(
        self: &Arc<Self>,
        outbound: mpsc::Sender<Outbound>,
        last_seq: u64,
    ) -> Result<(), u64> {
        let newest = self.progress.borrow().events;
        let cursor = usize::try_from(last_seq).unwrap_or(usize::MAX).min(newest);
        let dropped = lock(&self.ring).dropped;
        if cursor < dropped {
            return Err(dropped as u64 + 1);
        }
        let resumed = ServerMessage::Resumed(ResumedMessage {
            id: self.run_id.clone(),
            seq: newest as u64,
            stdin_seq: self.stdin_seq.load(Ordering::SeqCst),
        });
        self.attach(outbound, cursor, Some(resumed));
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
        cursor: usize,
        first: Option<ServerMessage>,
    ) {
        // What the new socket asks for after `cursor` must stay until it is given again.
        let generation = {
            let mut ring = lock(&self.ring);
            ring.given = cursor;
            ring.attachment += 1;
            ring.attachment
        };
        let task = tokio::spawn(forward(
            Arc::clone(self),
            outbound.clone(),
            (generation, cursor),
            first,
        ));
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

    /// Add `text` to the ring; gives it back when the ring is full of events no socket has
    /// taken yet (wait for [`RunLog::taken`], then push again).
    fn push(&self, text: String) -> Result<(), String> {
        let count = lock(&self.ring).push(text)?;
        self.progress
            .send_modify(|progress| progress.events = count);
        Ok(())
    }

    /// The socket of attachment `generation` has been given every event before `cursor`
    /// (ignored when another socket attached since).
    fn given(&self, generation: u64, cursor: usize) {
        let mut ring = lock(&self.ring);
        if ring.attachment == generation {
            ring.given = cursor;
            drop(ring);
            self.taken.notify_one();
        }
    }

    fn finish(&self) {
        self.progress
            .send_modify(|progress| progress.finished = true);
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

/// Copy `log` from event index `cursor` on to one socket (of attachment `generation`),
/// `first` before anything.
async fn forward(
    log: Arc<RunLog>,
    outbound: mpsc::Sender<Outbound>,
    (generation, mut cursor): (u64, usize),
    first: Option<ServerMessage>,
) {
    let mut progress = log.progress.subscribe();
    if let Some(first) = first {
        if outbound.send(Outbound::from(first)).await.is_err() {
            return log.detach(&outbound);
        }
    }
    loop {
        let Progress { events, finished } = *progress.borrow_and_update();
        if cursor < events {
            // One event at a time: the copy in flight is the only one outside the ring.
            while cursor < events {
                let Some(text) = lock(&log.ring).get(cursor) else {
                    // Dropped before this socket got it: it cannot continue without a gap.
                    return log.detach(&outbound);
                };
                if outbound.send(Outbound::Text(text)).await.is_err() {
                    return log.detach(&outbound);
                }
                cursor += 1;
                log.given(generation, cursor);
            }
            continue;
        }
        if finished || progress.changed().await.is_err() {
            return;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
