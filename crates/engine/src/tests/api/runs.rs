//! One-shot runs through the boundary: start, follow, resume from a `seq`, stdin exactly once,
//! signals, forget, owners, and how long a finished run is kept.

use runnel_protocol::{RunStatus, StreamName};

use super::{Wire, EVENT_WAIT};
use crate::api::{Event, FaultKind, Input, LogId, Reply, Request, RunStarted, FINISHED_RUN_KEPT};
use crate::log::Entry;
use crate::run::{RunEvent, RunOutcome};
use crate::tests::request;
use crate::Signal;

const OWNER: &str = "tester";

fn run_log(id: &str) -> LogId {
    LogId::Run(id.to_owned())
}

/// Start `source` in the fake language as run `id`, stdin left open.
async fn start(wire: &Wire, id: &str, source: &str) -> RunStarted {
    let mut run = request("fake", source);
    run.id = id.to_owned();
    run.close_stdin = false;
    match wire.ok(Request::Run(run)).await {
        Reply::Run(started) => started,
        other => panic!("a run start replies `run`: {other:?}"),
    }
}

fn stdin(owner: &str, run: &str, text: &str, stdin_seq: Option<u64>) -> Request {
    Request::RunInput {
        owner: owner.to_owned(),
        run: run.to_owned(),
        input: Input::Stdin {
            data: text.as_bytes().to_vec(),
            eof: false,
        },
        stdin_seq,
    }
}

fn stdout_of(events: &[Event]) -> String {
    let mut text = Vec::new();
    for event in events {
        if let Event::Run(Entry {
            kind:
                RunEvent::Output {
                    stream: StreamName::Stdout,
                    data,
                    ..
                },
            ..
        }) = event
        {
            text.extend_from_slice(data);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn outcome_of(events: &[Event]) -> RunOutcome {
    match events.last() {
        Some(Event::Run(Entry {
            kind: RunEvent::Exit(outcome),
            ..
        })) => outcome.clone(),
        other => panic!("the last event is the exit: {other:?}"),
    }
}

fn is_exit(event: &Event) -> bool {
    matches!(
        event,
        Event::Run(Entry {
            kind: RunEvent::Exit(_),
            ..
        })
    )
}

#[tokio::test]
async fn a_run_streams_through_the_boundary_and_a_second_follower_resumes_from_its_seq() {
    let wire = Wire::new().await;
    let started = start(&wire, "r1", "print one\nreadline\nprint three").await;
    assert_eq!(started.id, "r1");
    assert_eq!(started.language, "fake");
    let mut first = wire
        .follow(OWNER, run_log("r1"), 0)
        .expect("the run is kept");
    let before = first
        .until("`one`", |event| {
            stdout_of(std::slice::from_ref(event)) == "one\n"
        })
        .await;
    assert_eq!(before.first().map(Event::seq), Some(1));
    assert!(matches!(
        before.first(),
        Some(Event::Run(Entry {
            kind: RunEvent::Started,
            ..
        }))
    ));
    let resumed_after = before.last().map(Event::seq).expect("events");

    // stdin numbered by the client is applied once, however often it is re-sent.
    let sent = stdin(OWNER, "r1", "two\n", Some(1));
    assert_eq!(wire.ok(sent.clone()).await, Reply::Done);
    assert_eq!(wire.ok(sent).await, Reply::Duplicate);

    let rest = first.until("the exit", is_exit).await;
    assert_eq!(stdout_of(&rest), "got: two\nthree\n");
    assert_eq!(outcome_of(&rest).status, RunStatus::Ok);
    assert!(first.next_batch().await.is_none(), "nothing after the exit");

    // A second follower (a client back on another gateway) gets exactly what came after the
    // seq it had, with the same numbers.
    let mut second = wire
        .follow(OWNER, run_log("r1"), resumed_after)
        .expect("the finished run is still kept");
    let again = second.until("the exit", is_exit).await;
    assert_eq!(again, rest);
}

#[tokio::test]
async fn another_owner_finds_nothing_the_owner_describes_it_and_a_live_id_is_not_taken_twice() {
    let wire = Wire::new().await;
    let started = start(&wire, "r1", "hang").await;
    let other = "someone-else";
    let fault = wire.fault(stdin(other, "r1", "x\n", None)).await;
    assert_eq!(fault.kind, FaultKind::NotFound, "{fault:?}");
    let describe = |owner: &str| Request::DescribeRun {
        owner: owner.to_owned(),
        run: "r1".to_owned(),
    };
    let fault = wire.fault(describe(other)).await;
    assert_eq!(fault.kind, FaultKind::NotFound, "{fault:?}");
    match wire.ok(describe(OWNER)).await {
        Reply::Run(described) => assert_eq!(described, started),
        other => panic!("describe replies `run`: {other:?}"),
    }
    let fault = wire
        .follow(other, run_log("r1"), 0)
        .err()
        .expect("another owner cannot follow the run");
    assert_eq!(fault.kind, FaultKind::NotFound);
    let mut again = request("fake", "print no");
    again.id = "r1".to_owned();
    let fault = wire.fault(Request::Run(again.clone())).await;
    assert_eq!(fault.kind, FaultKind::Conflict, "{fault:?}");
    assert!(fault.message.contains("r1"), "{fault:?}");
    // The same id for another owner is another run.
    again.owner = other.to_owned();
    assert!(matches!(wire.ok(Request::Run(again)).await, Reply::Run(_)));
}

#[tokio::test]
async fn a_signal_ends_the_run_and_forget_kills_what_still_runs() {
    let wire = Wire::new().await;
    start(&wire, "trapped", "print up\ntrap").await;
    let mut follower = wire.follow(OWNER, run_log("trapped"), 0).expect("kept");
    follower
        .until("`up`", |event| {
            stdout_of(std::slice::from_ref(event)) == "up\n"
        })
        .await;
    let signal = |run: &str, signal| Request::RunInput {
        owner: OWNER.to_owned(),
        run: run.to_owned(),
        input: Input::Signal(signal),
        stdin_seq: None,
    };
    assert_eq!(wire.ok(signal("trapped", Signal::User1)).await, Reply::Done);
    let events = follower.until("the exit", is_exit).await;
    assert_eq!(stdout_of(&events), "signal 10\n");
    assert_eq!(outcome_of(&events).exit_code, Some(138));
    let fault = wire.fault(signal("trapped", Signal::User1)).await;
    assert_eq!(fault.kind, FaultKind::Ended, "{fault:?}");

    start(&wire, "forever", "hang").await;
    let mut follower = wire.follow(OWNER, run_log("forever"), 0).expect("kept");
    let forget = Request::Forget {
        owner: OWNER.to_owned(),
        run: "forever".to_owned(),
    };
    assert_eq!(wire.ok(forget).await, Reply::Done);
    let events = follower.until("the exit", is_exit).await;
    assert_eq!(outcome_of(&events).status, RunStatus::Killed);
    let fault = wire.fault(stdin(OWNER, "forever", "x\n", None)).await;
    assert_eq!(fault.kind, FaultKind::NotFound, "a forgotten run is gone");
    assert_eq!(wire.harness.backend.live(), 0, "no sandbox is left");
}

#[tokio::test]
async fn stdin_for_an_ended_run_and_an_unknown_language_are_named_faults() {
    let wire = Wire::new().await;
    start(&wire, "r1", "print done").await;
    let mut follower = wire.follow(OWNER, run_log("r1"), 0).expect("kept");
    follower.until("the exit", is_exit).await;
    let fault = wire.fault(stdin(OWNER, "r1", "late\n", None)).await;
    assert_eq!(fault.kind, FaultKind::Ended, "{fault:?}");

    let mut unknown = request("cobol", "DISPLAY 'HI'.");
    unknown.id = "r2".to_owned();
    let fault = wire.fault(Request::Run(unknown)).await;
    assert_eq!(fault.kind, FaultKind::UnknownLanguage);
    assert!(fault.message.contains("cobol"), "{fault:?}");
    let fault = wire
        .follow(OWNER, run_log("r2"), 0)
        .err()
        .expect("a refused run is not kept");
    assert_eq!(fault.kind, FaultKind::NotFound);
}

#[tokio::test(start_paused = true)]
async fn a_finished_run_is_kept_for_a_while_then_let_go() {
    let wire = Wire::new().await;
    start(&wire, "r1", "print done").await;
    let mut follower = wire.follow(OWNER, run_log("r1"), 0).expect("kept");
    follower.until("the exit", is_exit).await;
    assert!(FINISHED_RUN_KEPT < EVENT_WAIT);
    tokio::time::sleep(FINISHED_RUN_KEPT / 2).await;
    let mut late = wire.follow(OWNER, run_log("r1"), 0).expect("still kept");
    late.until("the exit", is_exit).await;
    tokio::time::sleep(FINISHED_RUN_KEPT).await;
    let fault = wire
        .follow(OWNER, run_log("r1"), 0)
        .err()
        .expect("let go after FINISHED_RUN_KEPT");
    assert_eq!(fault.kind, FaultKind::NotFound);
}
