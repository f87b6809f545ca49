//! Streamed one-shot runs that outlive their socket.
//!
//! Every event of a `stream: true` run on `/ws` goes into the run's [`RunLog`] (bounded by the
//! run's output limit), and a forwarder task copies the log to the socket attached to the run.
//! When that socket drops, the run goes on for `run_grace`, waiting for a client to reconnect
//! and send `{"action":"resume","id":RUN,"last_seq":N}`: the new socket gets `resumed`, every
//! event after `N`, then the live ones. Nobody in time: the run is killed. A finished run's log
//! is kept as long (shorter when a socket was attached at the end), so that an `exit` lost
//! with a connection can still be fetched.
//!
//! Each socket's copy runs in its own forwarder task, so a stalled socket never blocks the
//! run, the log or the next socket's resume (which aborts the old forwarder).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use runnel_engine::RunController;
use runnel_protocol::server::ResumedMessage;
use runnel_protocol::ServerMessage;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::AbortHandle;
use tokio::time::{sleep_until, Instant};

use super::Outbound;
use crate::execution::Execution;
use crate::state::AppState;

/// Messages between the run and its log.
const LOG_CHANNEL: usize = 64;
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
    /// Serialized events; event `seq` is at index `seq - 1`.
    events: Mutex<Vec<String>>,
    /// How many events there are, and whether the run ended.
    progress: watch::Sender<Progress>,
    attachment: Mutex<Attachment>,
    /// Woken when a socket attaches or goes.
    attachment_changed: Notify,
    /// The highest client `stdin_seq` applied.
    stdin_seq: AtomicU64,
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
    /// `last_seq`, then the live ones. A socket attached before stops getting events.
    pub(crate) fn resume(self: &Arc<Self>, outbound: mpsc::Sender<Outbound>, last_seq: u64) {
        let newest = self.progress.borrow().events;
        let resumed = ServerMessage::Resumed(ResumedMessage {
            id: self.run_id.clone(),
            seq: newest as u64,
            stdin_seq: self.stdin_seq.load(Ordering::SeqCst),
        });
        let cursor = usize::try_from(last_seq).unwrap_or(usize::MAX).min(newest);
        self.attach(outbound, cursor, Some(resumed));
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
        let task = tokio::spawn(forward(Arc::clone(self), outbound.clone(), cursor, first));
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

    fn push(&self, message: &ServerMessage) {
        let text = message.to_json();
        let count = {
            let mut events = lock(&self.events);
            events.push(text);
            events.len()
        };
        self.progress
            .send_modify(|progress| progress.events = count);
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

/// Register `execution` as a resumable run of `key_id`, attached to `outbound`, and drive it in
/// a task of its own. Returns its log.
pub(crate) fn start(
    state: &AppState,
    key_id: &str,
    execution: Execution,
    outbound: mpsc::Sender<Outbound>,
) -> Arc<RunLog> {
    let log = Arc::new(RunLog {
        key_id: key_id.to_owned(),
        run_id: execution.id().to_owned(),
        controller: execution.controller(),
        events: Mutex::new(Vec::new()),
        progress: watch::Sender::new(Progress::default()),
        attachment: Mutex::new(Attachment::default()),
        attachment_changed: Notify::new(),
        stdin_seq: AtomicU64::new(0),
    });
    state.runs().insert(Arc::clone(&log));
    log.attach(outbound, 0, None);
    tokio::spawn(drive(execution, Arc::clone(&log), state.clone()));
    log
}

/// Run `execution` into `log` until it ends, or until no socket has been attached for the
/// grace period (then dropping the execution kills the run); keep the finished log for a
/// while, then forget it.
async fn drive(execution: Execution, log: Arc<RunLog>, state: AppState) {
    let grace = state.config().run_grace;
    let (sender, mut receiver) = mpsc::channel(LOG_CHANNEL);
    let produce = async move { execution.stream::<ServerMessage>(&sender).await };
    tokio::pin!(produce);
    let abandoned = log.abandoned(grace);
    tokio::pin!(abandoned);
    let mut producing = true;
    loop {
        tokio::select! {
            () = &mut produce, if producing => producing = false,
            message = receiver.recv() => match message {
                Some(message) => log.push(&message),
                None => break,
            },
            () = &mut abandoned => {
                tracing::debug!(run_id = %log.run_id, "no socket resumed the run in time; killing it");
                log.finish();
                state.runs().remove(&log);
                return;
            }
        }
    }
    log.finish();
    let linger = if log.is_attached() {
        DELIVERED_LINGER.min(grace)
    } else {
        grace
    };
    tokio::time::sleep(linger).await;
    state.runs().remove(&log);
}

/// Copy `log` from event index `cursor` on to one socket, `first` before anything.
async fn forward(
    log: Arc<RunLog>,
    outbound: mpsc::Sender<Outbound>,
    mut cursor: usize,
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
            let batch: Vec<String> = lock(&log.events)[cursor..events].to_vec();
            cursor = events;
            for text in batch {
                if outbound.send(Outbound::Text(text)).await.is_err() {
                    return log.detach(&outbound);
                }
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
