//! The session's event log: every event gets the next session-wide sequence number and is kept
//! in a ring bounded by bytes, so a client that reconnects can ask for everything after the
//! last number it saw. Subscribers pull from the log (no per-subscriber queue can overflow):
//! a subscriber that falls behind the ring's start learns it by a named error.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use runnel_protocol::{Stage, StreamName};
use tokio::sync::watch;

use crate::run::RunOutcome;

/// Fixed cost of an event in the log's byte budget, besides its data.
const EVENT_OVERHEAD_BYTES: usize = 64;

/// One event of a session, with its session-wide sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionEvent {
    /// Sequence number: 1 for the first event of the session, then one more for each.
    pub seq: u64,
    /// What happened.
    pub kind: SessionEventKind,
}

/// What happened in a session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEventKind {
    /// A run (an execute) began.
    Started {
        /// The run id.
        run: String,
    },
    /// Output of a run. `data` never ends inside a UTF-8 character unless it is not UTF-8.
    Output {
        /// The run id.
        run: String,
        /// Compile or run.
        stage: Stage,
        /// stdout or stderr.
        stream: StreamName,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The run waits for a line of input (`input()` in Python); answer with stdin.
    InputRequest {
        /// The run id.
        run: String,
        /// The prompt the program gave.
        prompt: String,
        /// Whether the input should be hidden.
        password: bool,
    },
    /// A run ended; always the last event of a run.
    Exit {
        /// The run id.
        run: String,
        /// How it ended (for a cell that raised: `runtime_error`, the exception in `message`).
        outcome: RunOutcome,
    },
    /// The interpreter was restarted (state gone, files kept).
    Restarted,
    /// The session ended (closed, expired, or the server stops); always the last event.
    Closed {
        /// `closed`, `expired` or `shutdown`.
        reason: String,
    },
}

impl SessionEventKind {
    /// The run the event belongs to, if any.
    pub fn run(&self) -> Option<&str> {
        match self {
            SessionEventKind::Started { run }
            | SessionEventKind::Output { run, .. }
            | SessionEventKind::InputRequest { run, .. }
            | SessionEventKind::Exit { run, .. } => Some(run),
            SessionEventKind::Restarted | SessionEventKind::Closed { .. } => None,
        }
    }

    fn cost(&self) -> usize {
        EVENT_OVERHEAD_BYTES
            + match self {
                SessionEventKind::Output { data, .. } => data.len(),
                SessionEventKind::InputRequest { prompt, .. } => prompt.len(),
                _ => 0,
            }
    }
}

/// Events asked for that the ring no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events after {after} are no longer kept: the oldest kept is {oldest}")]
pub struct ReplayGap {
    /// The sequence number the client asked to resume after.
    pub after: u64,
    /// The oldest sequence number still kept.
    pub oldest: u64,
}

/// The ring of one session's events.
#[derive(Debug)]
pub(crate) struct EventLog {
    state: Mutex<LogState>,
    /// The last sequence number pushed; subscribers wait on it.
    last: watch::Sender<u64>,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct LogState {
    events: VecDeque<Arc<SessionEvent>>,
    bytes: usize,
    next_seq: u64,
    closed: bool,
}

impl EventLog {
    pub(crate) fn new(max_bytes: usize) -> Arc<EventLog> {
        Arc::new(EventLog {
            state: Mutex::new(LogState {
                next_seq: 1,
                ..LogState::default()
            }),
            last: watch::Sender::new(0),
            max_bytes,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Append an event; returns its sequence number (0 once the log is closed).
    pub(crate) fn push(&self, kind: SessionEventKind) -> u64 {
        let mut state = self.lock();
        if state.closed {
            return 0;
        }
        let closing = matches!(kind, SessionEventKind::Closed { .. });
        let seq = state.next_seq;
        state.next_seq += 1;
        state.bytes += kind.cost();
        state.events.push_back(Arc::new(SessionEvent { seq, kind }));
        // Keep at least the newest event, however large.
        while state.bytes > self.max_bytes && state.events.len() > 1 {
            if let Some(old) = state.events.pop_front() {
                state.bytes -= old.kind.cost();
            }
        }
        state.closed = closing;
        drop(state);
        self.last.send_replace(seq);
        seq
    }

    /// The last sequence number given out (0 before any event).
    pub(crate) fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// A subscription to every event after `after`: first those still kept, then live ones.
    pub(crate) fn subscribe(self: &Arc<Self>, after: u64) -> Result<Subscription, ReplayGap> {
        let state = self.lock();
        let last = state.next_seq - 1;
        let oldest = state
            .events
            .front()
            .map_or(state.next_seq, |event| event.seq);
        let after = after.min(last);
        if after + 1 < oldest {
            return Err(ReplayGap { after, oldest });
        }
        Ok(Subscription {
            log: self.clone(),
            next: after + 1,
            wake: self.last.subscribe(),
        })
    }

    /// Events from `next` on that are kept now.
    fn read_from(&self, next: u64) -> Result<(Vec<Arc<SessionEvent>>, bool), ReplayGap> {
        let state = self.lock();
        let oldest = state
            .events
            .front()
            .map_or(state.next_seq, |event| event.seq);
        if next < oldest {
            return Err(ReplayGap {
                after: next - 1,
                oldest,
            });
        }
        let skip = usize::try_from(next - oldest).unwrap_or(usize::MAX);
        let events = state.events.iter().skip(skip).cloned().collect();
        Ok((events, state.closed))
    }
}

/// A reader of a session's events, in order, each exactly once.
#[derive(Debug)]
pub struct Subscription {
    log: Arc<EventLog>,
    next: u64,
    wake: watch::Receiver<u64>,
}

impl Subscription {
    /// The next batch of events (in order); `Ok(empty)` never happens: this waits. `None` after
    /// the session's `Closed` event was delivered.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Arc<SessionEvent>>, ReplayGap>> {
        loop {
            let (events, closed) = match self.log.read_from(self.next) {
                Ok(read) => read,
                Err(gap) => return Some(Err(gap)),
            };
            if let Some(last) = events.last() {
                self.next = last.seq + 1;
                return Some(Ok(events));
            }
            if closed {
                return None;
            }
            self.wake.borrow_and_update();
            // Re-check after marking the value seen, so a push in between is not missed.
            if self.log.last_seq() >= self.next {
                continue;
            }
            if self.wake.changed().await.is_err() {
                return None;
            }
        }
    }

    /// The sequence number of the next event this subscription will deliver.
    pub fn next_seq(&self) -> u64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(text: &str) -> SessionEventKind {
        SessionEventKind::Output {
            run: "r".into(),
            stage: Stage::Run,
            stream: StreamName::Stdout,
            data: text.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn replay_then_live_each_once_in_order() {
        let log = EventLog::new(1 << 20);
        for index in 0..5 {
            log.push(output(&index.to_string()));
        }
        let mut subscription = log.subscribe(2).expect("kept");
        let first = subscription
            .next_batch()
            .await
            .expect("open")
            .expect("kept");
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        let pusher = log.clone();
        tokio::spawn(async move {
            pusher.push(output("5"));
            pusher.push(SessionEventKind::Closed {
                reason: "closed".into(),
            });
        });
        let mut seqs = Vec::new();
        while let Some(batch) = subscription.next_batch().await {
            seqs.extend(batch.expect("kept").iter().map(|e| e.seq));
        }
        assert_eq!(seqs, [6, 7]);
    }

    #[test]
    fn trimmed_events_are_a_named_gap() {
        let log = EventLog::new(3 * (EVENT_OVERHEAD_BYTES + 1));
        for index in 0..10 {
            log.push(output(&index.to_string()));
        }
        assert_eq!(log.last_seq(), 10);
        let gap = log.subscribe(2).expect_err("trimmed");
        assert_eq!(gap.oldest, 8);
        assert!(log.subscribe(7).is_ok());
        assert!(log.subscribe(10).is_ok());
    }
}
