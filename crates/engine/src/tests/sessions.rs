//! Sessions on the fake backend, through the fake driver `/fake/repl` ([`super::driver`]):
//! cells and their events, state, input, errors, interrupts, a crashed driver, restart,
//! replay; the lifecycle (limits, idle timeout, close, a lost spawner) is in [`lifecycle`].

mod lifecycle;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use runnel_protocol::{RunStatus, StreamName};

use super::Harness;
use crate::{
    CreateSession, Limits, RunOutcome, SessionEvent, SessionEventKind, SessionHandle, SessionRun,
    Signal, SourceFile, Subscription,
};

const OWNER: &str = "tester";

/// Longest a test waits for an event (on tokio's clock) before it fails.
const EVENT_WAIT: Duration = Duration::from_secs(120);

pub(super) fn create_request() -> CreateSession {
    CreateSession {
        language: "fakerepl".to_owned(),
        limits: Limits::DEFAULT,
        idle_timeout: None,
    }
}

/// A session of `fakerepl` for [`OWNER`].
async fn open(harness: &Harness) -> SessionHandle {
    harness
        .engine
        .create_session(create_request(), OWNER, 0)
        .await
        .expect("the session is created")
}

/// An execute of `code` as the cell, default limits.
pub(super) fn cell(id: &str, code: &str) -> SessionRun {
    SessionRun {
        id: id.to_owned(),
        files: vec![SourceFile {
            name: String::new(),
            contents: code.as_bytes().to_vec(),
        }],
        stdin: None,
        args: Vec::new(),
        limits: Limits::DEFAULT,
    }
}

/// A session's events, one at a time, from a subscription.
struct Events {
    subscription: Subscription,
    pending: VecDeque<Arc<SessionEvent>>,
}

impl Events {
    fn after(session: &SessionHandle, seq: u64) -> Events {
        Events {
            subscription: session.subscribe(seq).expect("the events are kept"),
            pending: VecDeque::new(),
        }
    }

    /// The next event; `None` after `Closed`.
    async fn next(&mut self) -> Option<SessionEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((*event).clone());
            }
            let batch = tokio::time::timeout(EVENT_WAIT, self.subscription.next_batch())
                .await
                .expect("an event in time")?;
            self.pending.extend(batch.expect("no replay gap"));
        }
    }

    /// Events up to and including the first that `wanted` accepts.
    async fn until(
        &mut self,
        what: &str,
        wanted: impl Fn(&SessionEventKind) -> bool,
    ) -> Vec<SessionEvent> {
        let mut seen = Vec::new();
        loop {
            let Some(event) = self.next().await else {
                panic!("the session closed before {what}: {seen:?}");
            };
            let found = wanted(&event.kind);
            seen.push(event);
            if found {
                return seen;
            }
        }
    }

    /// Events up to and including the `Exit` of `run`, as a [`Cell`].
    async fn exit_of(&mut self, run: &str) -> Cell {
        let events = self
            .until(
                &format!("the exit of {run}"),
                |kind| matches!(kind, SessionEventKind::Exit { run: r, .. } if r == run),
            )
            .await;
        Cell::of(events)
    }
}

/// What one execute sent, in order, and how it ended.
#[derive(Debug)]
struct Cell {
    events: Vec<SessionEvent>,
    outcome: RunOutcome,
}

impl Cell {
    fn of(events: Vec<SessionEvent>) -> Cell {
        let Some(SessionEventKind::Exit { outcome, .. }) = events.last().map(|e| e.kind.clone())
        else {
            panic!("no exit: {events:?}");
        };
        Cell { events, outcome }
    }

    fn output(&self, stream: StreamName) -> String {
        let mut text = Vec::new();
        for event in &self.events {
            if let SessionEventKind::Output {
                stream: s, data, ..
            } = &event.kind
            {
                if *s == stream {
                    text.extend_from_slice(data);
                }
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    fn stdout(&self) -> String {
        self.output(StreamName::Stdout)
    }

    fn status(&self) -> RunStatus {
        self.outcome.status
    }
}

/// Execute `code` as run `id` and read its events to its exit.
async fn execute(session: &SessionHandle, id: &str, code: &str) -> Cell {
    let mut events = Events::after(session, session.last_seq());
    session
        .execute(cell(id, code))
        .expect("the execute is queued");
    events.exit_of(id).await
}

/// Reads events until output of `run` containing `text` arrived.
async fn wait_for_output(events: &mut Events, run: &str, text: &str) -> Vec<SessionEvent> {
    events
        .until(&format!("{text:?} from {run}"), |kind| {
            matches!(kind, SessionEventKind::Output { run: r, data, .. }
                if r == run && String::from_utf8_lossy(data).contains(text))
        })
        .await
}

#[tokio::test]
async fn a_cell_streams_its_output_then_exits_with_seqs_in_order() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    assert!(session.stateful());
    assert_eq!(session.language(), "fakerepl");
    assert_eq!(harness.backend.live(), 1);
    let ran = execute(&session, "c1", "print hello\neprint careful\nprint world").await;
    assert_eq!(ran.status(), RunStatus::Ok, "{ran:?}");
    assert_eq!(ran.outcome.exit_code, Some(0));
    assert_eq!(ran.stdout(), "hello\nworld\n");
    assert_eq!(ran.output(StreamName::Stderr), "careful\n");
    // The markers are stripped: nothing of them reaches the client.
    assert!(!ran.stdout().contains('\u{1e}'));
    assert_eq!(
        ran.events.first().map(|e| &e.kind),
        Some(&SessionEventKind::Started { run: "c1".into() })
    );
    assert!(ran.events.iter().all(|e| e.kind.run() == Some("c1")));
    let seqs: Vec<u64> = ran.events.iter().map(|e| e.seq).collect();
    let first = seqs[0];
    assert_eq!(seqs, (first..first + seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(session.last_seq(), *seqs.last().expect("events"));
}

#[tokio::test]
async fn state_persists_from_one_cell_to_the_next() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    let set = execute(&session, "c1", "set greeting hi there").await;
    assert_eq!(set.status(), RunStatus::Ok, "{set:?}");
    assert_eq!(set.stdout(), "");
    let got = execute(&session, "c2", "get greeting\nset n 2").await;
    assert_eq!(got.stdout(), "hi there\n");
    let again = execute(&session, "c3", "get n\nget greeting").await;
    assert_eq!(again.stdout(), "2\nhi there\n");
    assert_eq!(harness.backend.created(), 1, "one sandbox, one driver");
}

#[tokio::test]
async fn an_input_request_is_answered_with_the_runs_stdin() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    let mut events = Events::after(&session, session.last_seq());
    let code = "print before\ninput name? \npassword secret: \nprint after";
    session.execute(cell("c1", code)).expect("queued");
    let asked = events
        .until("the input request", |kind| {
            matches!(kind, SessionEventKind::InputRequest { .. })
        })
        .await;
    let (before, request) = asked.split_at(asked.len() - 1);
    assert_eq!(
        request[0].kind,
        SessionEventKind::InputRequest {
            run: "c1".into(),
            prompt: "name? ".into(),
            password: false,
        }
    );
    // The output written before the request reached the client before it.
    assert!(before.iter().any(|e| matches!(&e.kind,
        SessionEventKind::Output { data, .. } if data == b"before\n")));
    session
        .write_run_stdin("c1", b"Ada\n".to_vec(), false)
        .expect("the answer is taken");
    let hidden = events
        .until("the password request", |kind| {
            matches!(kind, SessionEventKind::InputRequest { .. })
        })
        .await;
    assert!(matches!(
        &hidden.last().expect("an event").kind,
        SessionEventKind::InputRequest { prompt, password: true, .. } if prompt == "secret: "
    ));
    // The running cell's stdin, without naming the run, answers too.
    session
        .write_stdin(b"hunter2\n".to_vec(), false)
        .expect("the answer is taken");
    let rest = events.exit_of("c1").await;
    assert_eq!(rest.status(), RunStatus::Ok, "{rest:?}");
    let all: Vec<SessionEvent> = asked.into_iter().chain(hidden).chain(rest.events).collect();
    assert_eq!(
        Cell::of(all).stdout(),
        "before\nAda\nhunter2\nafter\n",
        "the newline is not part of the value"
    );
}

#[tokio::test]
async fn stdin_given_up_front_is_read_by_the_cell() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    let mut events = Events::after(&session, session.last_seq());
    let mut run = cell("c1", "readline\nprint done");
    run.stdin = Some(b"typed ahead\n".to_vec());
    session.execute(run).expect("queued");
    let ran = events.exit_of("c1").await;
    assert_eq!(ran.status(), RunStatus::Ok, "{ran:?}");
    assert_eq!(ran.stdout(), "got: typed ahead\ndone\n");
}

#[tokio::test]
async fn a_cell_that_raises_is_a_runtime_error_naming_the_error() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    let failed = execute(
        &session,
        "c1",
        "print partial\nfail ValueError bad value\nprint never",
    )
    .await;
    assert_eq!(failed.status(), RunStatus::RuntimeError, "{failed:?}");
    assert_eq!(
        failed.outcome.message.as_deref(),
        Some("ValueError: bad value")
    );
    assert_eq!(failed.outcome.exit_code, Some(1));
    assert_eq!(
        failed.stdout(),
        "partial\n",
        "output before the error is kept"
    );
    let unset = execute(&session, "c2", "get nothing").await;
    assert_eq!(unset.status(), RunStatus::RuntimeError);
    assert_eq!(
        unset.outcome.message.as_deref(),
        Some("NameError: name 'nothing' is not defined")
    );
    // An error is the cell's, not the interpreter's: the next cell runs in the same one.
    let next = execute(&session, "c3", "set x 1\nget x").await;
    assert_eq!(
        (next.status(), next.stdout().as_str()),
        (RunStatus::Ok, "1\n")
    );
    assert_eq!(harness.backend.created(), 1);
}

#[tokio::test]
async fn an_interrupt_ends_a_hanging_cell_and_the_session_goes_on() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    execute(&session, "c1", "set kept yes").await;
    let mut events = Events::after(&session, session.last_seq());
    session
        .execute(cell("c2", "print waiting\nhang\nprint never"))
        .expect("queued");
    let mut seen = wait_for_output(&mut events, "c2", "waiting").await;
    assert_eq!(session.running().as_deref(), Some("c2"));
    assert!(session.signal(Signal::Interrupt));
    seen.extend(events.exit_of("c2").await.events);
    let interrupted = Cell::of(seen);
    assert_eq!(interrupted.status(), RunStatus::Killed, "{interrupted:?}");
    assert_eq!(
        interrupted.outcome.message.as_deref(),
        Some("KeyboardInterrupt")
    );
    assert_eq!(interrupted.stdout(), "waiting\n");
    assert_eq!(session.running(), None);
    // The interpreter survived with its state.
    let next = execute(&session, "c3", "get kept").await;
    assert_eq!(
        (next.status(), next.stdout().as_str()),
        (RunStatus::Ok, "yes\n")
    );
    assert_eq!(harness.backend.created(), 1);
}

#[tokio::test]
async fn a_crashed_driver_fails_its_cell_and_the_next_cell_gets_a_fresh_one() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    execute(&session, "c1", "set x 1").await;
    let crashed = execute(&session, "c2", "print going\ncrash\nprint never").await;
    assert_eq!(crashed.status(), RunStatus::RuntimeError, "{crashed:?}");
    assert_eq!(
        crashed.outcome.message.as_deref(),
        Some("the interpreter exited; its state was lost")
    );
    assert_eq!(crashed.stdout(), "going\n");
    // The session stays, in the same sandbox; the next execute starts a new driver, without
    // the old one's state (and without a `Restarted` event: the engine pushes that only on
    // `restart`).
    assert!(!session.is_closed());
    let next = execute(&session, "c3", "get x").await;
    assert_eq!(next.status(), RunStatus::RuntimeError, "{next:?}");
    assert_eq!(
        next.outcome.message.as_deref(),
        Some("NameError: name 'x' is not defined")
    );
    let fresh = execute(&session, "c4", "set x 2\nget x").await;
    assert_eq!(
        (fresh.status(), fresh.stdout().as_str()),
        (RunStatus::Ok, "2\n")
    );
    assert_eq!(harness.backend.created(), 1);
    assert_eq!(harness.backend.live(), 1);
}

#[tokio::test]
async fn restart_clears_state_and_keeps_files() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    execute(&session, "c1", "set x 1\nwrite notes.txt kept").await;
    let mut events = Events::after(&session, session.last_seq());
    session.restart().await.expect("the driver restarts");
    let restarted = events.next().await.expect("an event");
    assert_eq!(restarted.kind, SessionEventKind::Restarted);
    let next = execute(&session, "c2", "get x").await;
    assert_eq!(next.status(), RunStatus::RuntimeError, "{next:?}");
    assert!(next
        .outcome
        .message
        .as_deref()
        .is_some_and(|message| message.starts_with("NameError")));
    let listing = session.list_files().await.expect("a listing");
    assert!(
        listing.files.iter().any(|file| file.path == "notes.txt"),
        "{listing:?}"
    );
    assert_eq!(harness.backend.created(), 1, "the sandbox stays");
}

#[tokio::test]
async fn restart_kills_a_running_cell() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    let mut events = Events::after(&session, session.last_seq());
    session
        .execute(cell("c1", "print up\nhang"))
        .expect("queued");
    wait_for_output(&mut events, "c1", "up").await;
    session.restart().await.expect("the driver restarts");
    let rest = events
        .until("the restart", |kind| *kind == SessionEventKind::Restarted)
        .await;
    let exit = rest.iter().find_map(|event| match &event.kind {
        SessionEventKind::Exit { outcome, .. } => Some(outcome.clone()),
        _ => None,
    });
    let exit = exit.expect("the cell ended before the restart event");
    assert_eq!(exit.status, RunStatus::Killed, "{exit:?}");
    let next = execute(&session, "c2", "print fresh").await;
    assert_eq!(
        (next.status(), next.stdout().as_str()),
        (RunStatus::Ok, "fresh\n")
    );
}

#[tokio::test]
async fn a_sessions_sandbox_is_made_to_its_limits() {
    let harness = Harness::new().await;
    let mut request = create_request();
    request.limits.memory_bytes = 128 << 20;
    request.limits.pids = 32;
    let session = harness
        .engine
        .create_session(request, OWNER, 0)
        .await
        .expect("created");
    let specs = harness.backend.live_specs();
    assert_eq!(specs.len(), 1);
    assert_eq!((specs[0].memory_bytes, specs[0].pids), (128 << 20, 32));
    let ran = execute(&session, "c1", "print small").await;
    assert_eq!(ran.status(), RunStatus::Ok, "{ran:?}");
}
