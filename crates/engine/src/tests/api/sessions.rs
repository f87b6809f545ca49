//! Sessions through the boundary: create, execute, input, describe and list, files in chunks,
//! restart, close; another owner's requests find nothing.

use runnel_protocol::{RunStatus, StreamName};

use super::{Followed, Wire};
use crate::api::{Event, FaultKind, FileChunk, Input, LogId, Reply, Request, SessionOp};
use crate::log::Entry;
use crate::session::{SessionEventKind, SessionInfo};
use crate::{RunOutcome, SourceFile};

const OWNER: &str = "tester";

async fn create(wire: &Wire) -> SessionInfo {
    let request = Request::CreateSession {
        owner: OWNER.to_owned(),
        max_sessions: 0,
        request: crate::tests::sessions::create_request(),
    };
    match wire.ok(request).await {
        Reply::Session(info) => info,
        other => panic!("a session create replies `session`: {other:?}"),
    }
}

fn op(session: &str, op: SessionOp) -> Request {
    Request::Session {
        owner: OWNER.to_owned(),
        session: session.to_owned(),
        op,
    }
}

fn cell(id: &str, code: &str) -> SessionOp {
    SessionOp::Execute(crate::tests::sessions::cell(id, code))
}

fn kind(event: &Event) -> &SessionEventKind {
    match event {
        Event::Session(Entry { kind, .. }) => kind,
        Event::Run(entry) => panic!("a run's event in a session's log: {entry:?}"),
    }
}

/// The events of `run` up to its exit: its stdout, and its outcome.
async fn exit_of(followed: &mut Followed, run: &str) -> (String, RunOutcome) {
    let events = followed
        .until(
            &format!("the exit of {run}"),
            |event| matches!(kind(event), SessionEventKind::Exit { run: r, .. } if r == run),
        )
        .await;
    let mut stdout = Vec::new();
    for event in &events {
        if let SessionEventKind::Output {
            run: r,
            stream: StreamName::Stdout,
            data,
            ..
        } = kind(event)
        {
            if r == run {
                stdout.extend_from_slice(data);
            }
        }
    }
    let Some(SessionEventKind::Exit { outcome, .. }) = events.last().map(kind) else {
        panic!("no exit: {events:?}");
    };
    (
        String::from_utf8_lossy(&stdout).into_owned(),
        outcome.clone(),
    )
}

#[tokio::test]
async fn a_session_keeps_its_state_and_answers_input_through_the_boundary() {
    let wire = Wire::new().await;
    let info = create(&wire).await;
    assert_eq!(info.language, "fakerepl");
    assert!(info.stateful);
    let mut events = wire
        .follow(OWNER, LogId::Session(info.id.clone()), info.last_seq)
        .expect("the session's log");
    assert_eq!(
        wire.ok(op(&info.id, cell("c1", "set n 42"))).await,
        Reply::Done
    );
    assert_eq!(exit_of(&mut events, "c1").await.1.status, RunStatus::Ok);

    assert_eq!(
        wire.ok(op(&info.id, cell("c2", "input name?\nget n")))
            .await,
        Reply::Done
    );
    let asked = events
        .until("the input request", |event| {
            matches!(kind(event), SessionEventKind::InputRequest { .. })
        })
        .await;
    assert!(matches!(
        asked.last().map(kind),
        Some(SessionEventKind::InputRequest { prompt, password: false, .. }) if prompt == "name?"
    ));
    // Who holds execute c2, for a client that names only the run.
    let of_run = Request::SessionOfRun {
        owner: OWNER.to_owned(),
        run: "c2".to_owned(),
    };
    assert!(matches!(wire.ok(of_run).await, Reply::Session(found) if found.id == info.id));
    let answer = op(
        &info.id,
        SessionOp::Input {
            run: None,
            input: Input::Stdin {
                data: b"Ada\n".to_vec(),
                eof: false,
            },
            stdin_seq: Some(1),
        },
    );
    assert_eq!(wire.ok(answer.clone()).await, Reply::Done);
    assert_eq!(wire.ok(answer).await, Reply::Duplicate, "applied once");
    let (stdout, outcome) = exit_of(&mut events, "c2").await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert_eq!(stdout, "Ada\n42\n");

    let Reply::Session(described) = wire.ok(op(&info.id, SessionOp::Describe)).await else {
        panic!("describe replies `session`");
    };
    assert_eq!(described.stdin_seq, 1);
    assert_eq!(described.running, None);
    assert!(described.last_seq > info.last_seq);
    let listed = wire
        .ok(Request::ListSessions {
            owner: OWNER.to_owned(),
        })
        .await;
    assert!(matches!(listed, Reply::Sessions(all) if all.len() == 1 && all[0].id == info.id));

    // A restart clears the state, and says so in the log.
    assert_eq!(wire.ok(op(&info.id, SessionOp::Restart)).await, Reply::Done);
    events
        .until("the restart", |event| {
            matches!(kind(event), SessionEventKind::Restarted)
        })
        .await;
    wire.ok(op(&info.id, cell("c3", "get n"))).await;
    let (_, outcome) = exit_of(&mut events, "c3").await;
    assert_eq!(outcome.status, RunStatus::RuntimeError, "{outcome:?}");
}

#[tokio::test]
async fn files_go_up_and_come_back_in_chunks() {
    let wire = Wire::new().await;
    let info = create(&wire).await;
    let contents: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let upload = SessionOp::Upload(vec![SourceFile {
        name: "data/blob.bin".to_owned(),
        contents: contents.clone(),
    }]);
    assert_eq!(wire.ok(op(&info.id, upload)).await, Reply::Done);
    let Reply::Files(listing) = wire.ok(op(&info.id, SessionOp::ListFiles)).await else {
        panic!("a listing replies `files`");
    };
    assert!(
        listing
            .files
            .iter()
            .any(|file| file.path == "data/blob.bin" && file.size == 300_000),
        "{listing:?}"
    );
    // Asked for all of it, each reply carries at most MAX_FILE_CHUNK; read on until the end.
    let mut read = Vec::new();
    loop {
        let download = SessionOp::Download {
            path: "data/blob.bin".to_owned(),
            offset: read.len() as u64,
            len: u64::MAX,
        };
        let Reply::File(FileChunk { size, offset, data }) = wire.ok(op(&info.id, download)).await
        else {
            panic!("a download replies `file`");
        };
        assert_eq!((size, offset), (300_000, read.len() as u64));
        assert!(data.len() as u64 <= crate::api::MAX_FILE_CHUNK);
        if data.is_empty() {
            break;
        }
        read.extend_from_slice(&data);
    }
    assert_eq!(read, contents);
    let missing = SessionOp::Download {
        path: "nope.txt".to_owned(),
        offset: 0,
        len: 10,
    };
    let fault = wire.fault(op(&info.id, missing)).await;
    assert_eq!(fault.kind, FaultKind::NotFound, "{fault:?}");
    let outside = SessionOp::Download {
        path: "../etc/passwd".to_owned(),
        offset: 0,
        len: 10,
    };
    let fault = wire.fault(op(&info.id, outside)).await;
    assert_eq!(fault.kind, FaultKind::InvalidRequest, "{fault:?}");
}

#[tokio::test]
async fn another_owner_finds_nothing_and_a_closed_session_is_gone() {
    let wire = Wire::new().await;
    let info = create(&wire).await;
    let stranger = |op: SessionOp| Request::Session {
        owner: "someone-else".to_owned(),
        session: info.id.clone(),
        op,
    };
    for attempt in [
        SessionOp::Describe,
        cell("x", "print stolen"),
        SessionOp::ListFiles,
        SessionOp::Close,
    ] {
        let fault = wire.fault(stranger(attempt)).await;
        assert_eq!(fault.kind, FaultKind::NotFound, "{fault:?}");
    }
    let fault = wire
        .follow("someone-else", LogId::Session(info.id.clone()), 0)
        .err()
        .expect("another owner cannot follow the session");
    assert_eq!(fault.kind, FaultKind::NotFound);

    let mut events = wire
        .follow(OWNER, LogId::Session(info.id.clone()), 0)
        .expect("the session's log");
    assert_eq!(wire.ok(op(&info.id, SessionOp::Close)).await, Reply::Done);
    let closed = events
        .until("the close", |event| {
            matches!(kind(event), SessionEventKind::Closed { .. })
        })
        .await;
    assert!(matches!(
        closed.last().map(kind),
        Some(SessionEventKind::Closed { reason }) if reason == "closed"
    ));
    assert!(
        events.next_batch().await.is_none(),
        "nothing after the close"
    );
    let fault = wire.fault(op(&info.id, SessionOp::Describe)).await;
    assert_eq!(fault.kind, FaultKind::NotFound);
    assert_eq!(wire.harness.backend.live(), 0, "the sandbox is gone");
}
