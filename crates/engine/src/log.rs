//! One event log for runs and sessions: every event gets the next sequence number (1, 2, ...)
//! and is kept in a ring bounded by bytes, so a reader that comes back can ask for everything
//! after the last number it saw. Readers pull from the log ([`Subscription`]): no per-reader
//! queue can overflow, and a reader that asks for events the ring no longer holds gets a named
//! [`ReplayGap`]. The last event ([`LogEvent::is_last`]) closes the log.
//!
//! What happens when the ring is full is the log's [`Overflow`]:
//! - [`Overflow::DropOldest`] (a session's log): the oldest events go, read or not; a client
//!   that does not read costs the ring, never the session's output.
//! - [`Overflow::WaitForReader`] (a run's log): only events the latest reader has taken
//!   ([`Subscription::taken`]) may go; while the ring is full of events it has not taken, [`EventLog::push_when_room`] waits,
//!   and so does the run (its program blocks on a full pipe). A slow reader slows the run
//!   instead of losing its output.
//!
//! The gateway only forwards: it subscribes from a `seq` and turns each entry into a message.
//! This is the shape a log needs to be followed from another machine.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Notify};

/// Fixed cost of an event in a log's byte budget, besides its data.
pub(crate) const EVENT_OVERHEAD_BYTES: usize = 64;

/// An event a log can hold.
pub trait LogEvent: Send + Sync + 'static {
    /// Bytes it counts for in the ring (its data and [`EVENT_OVERHEAD_BYTES`]).
    fn cost(&self) -> usize;
    /// Whether it is the last event of its log (a run's exit, a session's close).
    fn is_last(&self) -> bool;
}

/// One event with its sequence number.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry<E> {
    /// 1 for the log's first event, then one more for each.
    pub seq: u64,
    /// What happened.
    pub kind: E,
}

/// Events read together, in order.
pub type Batch<E> = Vec<Arc<Entry<E>>>;

/// Events asked for that the ring no longer holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
#[error("events after {after} are no longer kept: the oldest kept is {oldest}")]
pub struct ReplayGap {
    /// The sequence number the reader asked to resume after.
    pub after: u64,
    /// The oldest sequence number still kept.
    pub oldest: u64,
}

/// What a full ring does; see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the oldest events.
    DropOldest,
    /// Drop only events the latest reader took; otherwise the writer waits.
    WaitForReader,
}

/// The ring of one run's or one session's events.
#[derive(Debug)]
pub struct EventLog<E> {
    state: Mutex<State<E>>,
    /// The last sequence number pushed; readers wait on it.
    last: watch::Sender<u64>,
    /// Woken when the latest reader took events (room may have been made).
    taken: Notify,
    max_bytes: usize,
    overflow: Overflow,
}

#[derive(Debug)]
struct State<E> {
    events: VecDeque<Arc<Entry<E>>>,
    bytes: usize,
    next_seq: u64,
    closed: bool,
    /// Counts subscriptions: only the latest one's reads let events go ([`Overflow::WaitForReader`]).
    reader: u64,
    /// The highest sequence number the latest reader took.
    taken: u64,
}

impl<E: LogEvent> EventLog<E> {
    /// An empty log of at most `max_bytes` (its newest event is kept however large).
    pub(crate) fn new(max_bytes: usize, overflow: Overflow) -> Arc<EventLog<E>> {
        Arc::new(EventLog {
            state: Mutex::new(State {
                events: VecDeque::new(),
                bytes: 0,
                next_seq: 1,
                closed: false,
                reader: 0,
                taken: 0,
            }),
            last: watch::Sender::new(0),
            taken: Notify::new(),
            max_bytes,
            overflow,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Append an event now, dropping the oldest events past the bound (read or not); returns
    /// its sequence number (0 once the log is closed).
    pub(crate) fn push(&self, event: E) -> u64 {
        self.try_push(event, true).unwrap_or(0)
    }

    /// Append an event once it fits: with [`Overflow::WaitForReader`], wait while the ring is
    /// full of events the latest reader has not taken. Returns its sequence number (0 once the
    /// log is closed). Cancel-safe: dropped while waiting, nothing was pushed.
    pub(crate) async fn push_when_room(&self, event: E) -> u64 {
        let mut event = event;
        loop {
            let taken = self.taken.notified();
            tokio::pin!(taken);
            taken.as_mut().enable();
            match self.try_push(event, self.overflow == Overflow::DropOldest) {
                Ok(seq) => return seq,
                Err(back) => event = back,
            }
            taken.await;
        }
    }

    /// Push `event` unless the log is closed (`Ok(0)`); without `force`, give it back when
    /// it does not fit beside the events not taken yet.
    fn try_push(&self, event: E, force: bool) -> Result<u64, E> {
        let mut state = self.lock();
        if state.closed {
            return Ok(0);
        }
        let cost = event.cost();
        let droppable = |state: &State<E>, force: bool| {
            force
                || state
                    .events
                    .front()
                    .is_some_and(|oldest| oldest.seq <= state.taken)
        };
        while state.bytes + cost > self.max_bytes
            && !state.events.is_empty()
            && droppable(&state, force)
        {
            if let Some(old) = state.events.pop_front() {
                state.bytes -= old.kind.cost();
            }
        }
        if state.bytes + cost > self.max_bytes && !state.events.is_empty() {
            return Err(event);
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.bytes += cost;
        state.closed = event.is_last();
        state.events.push_back(Arc::new(Entry { seq, kind: event }));
        drop(state);
        self.last.send_replace(seq);
        Ok(seq)
    }

    /// The last sequence number given out (0 before any event).
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Whether the last event is in.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Resolves once the last event is in.
    pub async fn closed(&self) {
        let mut last = self.last.subscribe();
        loop {
            if self.is_closed() {
                return;
            }
            last.borrow_and_update();
            if self.is_closed() {
                return;
            }
            if last.changed().await.is_err() {
                return;
            }
        }
    }

    /// The newest event, if any.
    pub fn newest(&self) -> Option<Arc<Entry<E>>> {
        self.lock().events.back().cloned()
    }

    /// A subscription to every event after `after`: first those still kept, then live ones.
    /// It becomes the log's latest reader: with [`Overflow::WaitForReader`], what it has not
    /// taken stays in the ring (an earlier reader's reads no longer make room).
    pub fn subscribe(self: &Arc<Self>, after: u64) -> Result<Subscription<E>, ReplayGap> {
        let mut state = self.lock();
        let last = state.next_seq - 1;
        let oldest = oldest(&state);
        let after = after.min(last);
        if after + 1 < oldest {
            return Err(ReplayGap { after, oldest });
        }
        state.reader += 1;
        state.taken = after;
        let reader = state.reader;
        drop(state);
        self.taken.notify_waiters();
        Ok(Subscription {
            log: Arc::clone(self),
            next: after + 1,
            wake: self.last.subscribe(),
            reader,
        })
    }

    /// Events from `next` on that are kept now, and whether the last event is in.
    fn read_from(&self, next: u64) -> Result<(Batch<E>, bool), ReplayGap> {
        let state = self.lock();
        let oldest = oldest(&state);
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

    /// `reader` took every event up to `seq`: they may go to make room.
    fn take(&self, reader: u64, seq: u64) {
        let mut state = self.lock();
        if state.reader == reader && seq > state.taken {
            state.taken = seq;
            drop(state);
            self.taken.notify_waiters();
        }
    }
}

fn oldest<E>(state: &State<E>) -> u64 {
    state
        .events
        .front()
        .map_or(state.next_seq, |event| event.seq)
}

/// A reader of a log, in order, each event exactly once.
#[derive(Debug)]
pub struct Subscription<E> {
    log: Arc<EventLog<E>>,
    next: u64,
    wake: watch::Receiver<u64>,
    reader: u64,
}

impl<E: LogEvent> Subscription<E> {
    /// The next batch of events (in order); `Ok(empty)` never happens: this waits. `None` after
    /// the last event was delivered.
    pub async fn next_batch(&mut self) -> Option<Result<Batch<E>, ReplayGap>> {
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

    /// Every event up to `seq` was handed on: with [`Overflow::WaitForReader`] they may now go
    /// to make room, if this is the log's latest reader. A reader that never says so holds
    /// the writer once the ring is full.
    pub fn taken(&self, seq: u64) {
        self.log.take(self.reader, seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Event(&'static str);

    impl LogEvent for Event {
        fn cost(&self) -> usize {
            EVENT_OVERHEAD_BYTES + self.0.len()
        }
        fn is_last(&self) -> bool {
            self.0 == "end"
        }
    }

    fn seqs(batch: &[Arc<Entry<Event>>]) -> Vec<u64> {
        batch.iter().map(|entry| entry.seq).collect()
    }

    #[tokio::test]
    async fn replay_then_live_each_once_in_order() {
        let log = EventLog::new(1 << 20, Overflow::DropOldest);
        for _ in 0..5 {
            log.push(Event("x"));
        }
        let mut subscription = log.subscribe(2).expect("kept");
        let first = subscription
            .next_batch()
            .await
            .expect("open")
            .expect("kept");
        assert_eq!(seqs(&first), [3, 4, 5]);
        let pusher = Arc::clone(&log);
        tokio::spawn(async move {
            pusher.push(Event("y"));
            pusher.push(Event("end"));
        });
        let mut all = Vec::new();
        while let Some(batch) = subscription.next_batch().await {
            all.extend(seqs(&batch.expect("kept")));
        }
        assert_eq!(all, [6, 7]);
        assert!(log.is_closed());
        assert_eq!(log.push(Event("late")), 0, "nothing after the last event");
    }

    #[test]
    fn trimmed_events_are_a_named_gap() {
        let log = EventLog::new(3 * (EVENT_OVERHEAD_BYTES + 1), Overflow::DropOldest);
        for _ in 0..10 {
            log.push(Event("x"));
        }
        assert_eq!(log.last_seq(), 10);
        let gap = log.subscribe(2).expect_err("trimmed");
        assert_eq!(
            gap,
            ReplayGap {
                after: 2,
                oldest: 8
            }
        );
        assert!(log.subscribe(7).is_ok());
        assert!(log.subscribe(10).is_ok());
    }

    #[tokio::test]
    async fn a_full_ring_waits_for_its_reader_and_loses_nothing() {
        let log = EventLog::new(2 * (EVENT_OVERHEAD_BYTES + 1), Overflow::WaitForReader);
        let mut reader = log.subscribe(0).expect("empty");
        assert_eq!(log.push_when_room(Event("a")).await, 1);
        assert_eq!(log.push_when_room(Event("b")).await, 2);
        // Full of events the reader has not taken: the third waits.
        let writer = Arc::clone(&log);
        let third = tokio::spawn(async move { writer.push_when_room(Event("c")).await });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        assert_eq!(log.last_seq(), 2);
        let batch = reader.next_batch().await.expect("open").expect("kept");
        assert_eq!(seqs(&batch), [1, 2]);
        tokio::task::yield_now().await;
        assert!(!third.is_finished(), "read is not taken");
        reader.taken(1);
        assert_eq!(third.await.expect("pushed"), 3);
        let batch = reader.next_batch().await.expect("open").expect("kept");
        assert_eq!(seqs(&batch), [3]);
    }

    #[tokio::test]
    async fn only_the_latest_readers_reads_make_room() {
        let log = EventLog::new(EVENT_OVERHEAD_BYTES + 1, Overflow::WaitForReader);
        let mut old = log.subscribe(0).expect("empty");
        log.push_when_room(Event("a")).await;
        // A new reader resumes from 0: event 1 must stay for it, whatever the old one reads.
        let mut new = log.subscribe(0).expect("kept");
        let batch = old.next_batch().await.expect("open").expect("kept");
        assert_eq!(seqs(&batch), [1]);
        old.taken(1);
        let writer = Arc::clone(&log);
        let second = tokio::spawn(async move { writer.push_when_room(Event("b")).await });
        tokio::task::yield_now().await;
        assert!(!second.is_finished(), "the old reader's read made no room");
        let batch = new.next_batch().await.expect("open").expect("kept");
        assert_eq!(seqs(&batch), [1]);
        new.taken(1);
        assert_eq!(second.await.expect("pushed"), 2);
    }

    #[tokio::test]
    async fn closed_resolves_after_the_last_event() {
        let log = EventLog::new(1 << 10, Overflow::DropOldest);
        let waiter = Arc::clone(&log);
        let closed = tokio::spawn(async move { waiter.closed().await });
        log.push(Event("x"));
        tokio::task::yield_now().await;
        assert!(!closed.is_finished());
        log.push(Event("end"));
        closed.await.expect("resolved");
        assert_eq!(log.newest().map(|entry| entry.seq), Some(2));
    }
}
