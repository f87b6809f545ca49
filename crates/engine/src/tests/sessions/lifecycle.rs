//! A session's life: replay after a reconnect and its bounded log, a cell's wall limit, the
//! idle timeout, close, the per-owner limit, and a lost spawner.

use std::time::Duration;

use runnel_protocol::RunStatus;
use tokio::time::Instant;

use super::{cell, create_request, execute, open, Events, OWNER};
use crate::tests::driver::START_DELAY_FILE;
use crate::tests::{eventually, Harness};
use crate::{EngineError, ReplayGap, SessionEvent, SessionEventKind, SessionHandle};

/// Every event after `after`, replayed, up to `last`.
async fn replay(session: &SessionHandle, after: u64, last: u64) -> Vec<SessionEvent> {
    let mut events = Events::after(session, after);
    let mut replayed = Vec::new();
    while replayed
        .last()
        .is_none_or(|event: &SessionEvent| event.seq < last)
    {
        replayed.push(events.next().await.expect("the session is open"));
    }
    replayed
}

#[tokio::test]
async fn subscribe_replays_exactly_the_events_after_a_seq() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    let first = execute(&session, "c1", "print one").await;
    let second = execute(&session, "c2", "print two\neprint oops").await;
    let all: Vec<SessionEvent> = first.events.iter().chain(&second.events).cloned().collect();
    assert_eq!(all[0].seq, 1, "a session's first event is 1");
    let last = session.last_seq();
    assert_eq!(all.last().map(|event| event.seq), Some(last));
    for after in [0, 1, first.events.len() as u64, last - 1] {
        let expected: Vec<SessionEvent> = all
            .iter()
            .filter(|event| event.seq > after)
            .cloned()
            .collect();
        assert_eq!(
            replay(&session, after, last).await,
            expected,
            "after {after}"
        );
    }
    // A subscription at the end gets the live events only, from the next seq on.
    let mut live = Events::after(&session, last);
    session.execute(cell("c3", "print three")).expect("queued");
    let next = live.next().await.expect("an event");
    assert_eq!(next.seq, last + 1);
    assert_eq!(next.kind, SessionEventKind::Started { run: "c3".into() });
    // Asking after a seq not given out yet is asking from the end.
    assert!(session.subscribe(last + 1000).is_ok());
}

#[tokio::test]
async fn a_seq_trimmed_from_a_small_log_is_a_replay_gap() {
    // Room for four events: `Started`, one short `Output` and `Exit` cost 64 to 66 bytes.
    let harness = Harness::with(|config| config.sessions.log_bytes = 280).await;
    let session = open(&harness).await;
    for index in 1..=3 {
        let ran = execute(&session, &format!("c{index}"), &format!("print {index}")).await;
        assert_eq!(ran.events.len(), 3, "{ran:?}");
    }
    assert_eq!(session.last_seq(), 9);
    let gap = session.subscribe(1).expect_err("trimmed");
    assert_eq!(
        gap,
        ReplayGap {
            after: 1,
            oldest: 6
        }
    );
    assert!(session.subscribe(4).is_err());
    let kept = replay(&session, 5, 9).await;
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), [6, 7, 8, 9]);
    assert!(matches!(&kept[3].kind, SessionEventKind::Exit { run, .. } if run == "c3"));
    // A subscriber that falls behind the ring's start learns it when it reads.
    let mut behind = session.subscribe(5).expect("kept");
    execute(&session, "c4", "print 4").await;
    let read = behind.next_batch().await.expect("open");
    assert_eq!(
        read,
        Err(ReplayGap {
            after: 5,
            oldest: 9
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_cell_past_its_wall_limit_times_out_and_the_drivers_start_is_not_counted() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    // The driver the next execute starts takes 5 s to say `ready`.
    let code = format!("set lost yes\nwrite {START_DELAY_FILE} 5000\ncrash");
    let crashed = execute(&session, "c1", &code).await;
    assert_eq!(crashed.status(), RunStatus::RuntimeError, "{crashed:?}");
    let mut events = Events::after(&session, session.last_seq());
    let mut run = cell("c2", "print started\nset here yes\nhang");
    run.limits.wall = Duration::from_secs(2);
    let begun = Instant::now();
    session.execute(run).expect("queued");
    let timed_out = events.exit_of("c2").await;
    let took = begun.elapsed();
    assert_eq!(timed_out.status(), RunStatus::Timeout, "{timed_out:?}");
    assert_eq!(
        timed_out.outcome.message.as_deref(),
        Some("wall-clock limit of 2000 ms")
    );
    assert_eq!(timed_out.stdout(), "started\n");
    let wall = timed_out.outcome.wall_time;
    assert!(
        wall >= Duration::from_secs(2) && wall < Duration::from_secs(3),
        "the cell's clock starts after `ready`: {wall:?}"
    );
    assert!(
        took >= Duration::from_secs(7),
        "start, then the cell: {took:?}"
    );
    // The driver took the interrupt and lives on, with the state of the timed-out cell.
    let begun = Instant::now();
    let next = execute(&session, "c3", "get here").await;
    assert_eq!(
        (next.status(), next.stdout().as_str()),
        (RunStatus::Ok, "yes\n")
    );
    assert!(begun.elapsed() < Duration::from_secs(1), "no new driver");
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_expires_and_its_sandbox_is_destroyed() {
    let harness = Harness::new().await;
    let mut request = create_request();
    request.idle_timeout = Some(Duration::from_secs(10));
    let session = harness
        .engine
        .create_session(request, OWNER, 0)
        .await
        .expect("created");
    assert_eq!(session.idle_timeout(), Duration::from_secs(10));
    // A cell in flight is activity: one longer than the timeout does not expire the session.
    let mut events = Events::after(&session, session.last_seq());
    let mut long = cell("c1", "sleep 15000\nprint awake");
    long.limits.wall = Duration::from_secs(30);
    session.execute(long).expect("queued");
    let slept = events.exit_of("c1").await;
    assert_eq!(
        (slept.status(), slept.stdout().as_str()),
        (RunStatus::Ok, "awake\n")
    );
    let idle_since = Instant::now();
    let closed = events.next().await.expect("the close");
    let idle = idle_since.elapsed();
    assert_eq!(
        closed.kind,
        SessionEventKind::Closed {
            reason: "expired".into()
        }
    );
    assert!(
        idle >= Duration::from_secs(10) && idle <= Duration::from_millis(10_600),
        "{idle:?}"
    );
    assert_eq!(events.next().await, None, "`Closed` is the last event");
    eventually("the sandbox is destroyed", || harness.backend.live() == 0).await;
    assert!(session.is_closed());
    assert!(harness.engine.session(session.id(), OWNER).is_none());
    assert!(session.execute(cell("c2", "print late")).is_err());
}

#[tokio::test]
async fn close_session_destroys_the_sandbox_and_ends_the_events() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    execute(&session, "c1", "print hi").await;
    let id = session.id().to_owned();
    assert!(harness.engine.session(&id, OWNER).is_some());
    assert!(harness.engine.session(&id, "someone-else").is_none());
    assert!(!harness.engine.close_session(&id, "someone-else").await);
    assert_eq!(harness.backend.live(), 1);
    let mut events = Events::after(&session, session.last_seq());
    assert!(harness.engine.close_session(&id, OWNER).await);
    assert_eq!(harness.backend.live(), 0, "destroyed when close returns");
    assert_eq!(
        events.next().await.map(|event| event.kind),
        Some(SessionEventKind::Closed {
            reason: "closed".into()
        })
    );
    assert_eq!(events.next().await, None);
    assert!(session.is_closed());
    assert!(harness.engine.session(&id, OWNER).is_none());
    assert!(!harness.engine.close_session(&id, OWNER).await);
    assert!(matches!(
        session.execute(cell("c2", "print late")),
        Err(EngineError::InvalidRequest(_))
    ));
    assert_eq!(harness.engine.session_count(), 0);
}

#[tokio::test]
async fn an_owner_has_at_most_max_sessions() {
    let harness = Harness::new().await;
    let engine = &harness.engine;
    let first = engine
        .create_session(create_request(), OWNER, 2)
        .await
        .expect("first");
    engine
        .create_session(create_request(), OWNER, 2)
        .await
        .expect("second");
    let refused = engine
        .create_session(create_request(), OWNER, 2)
        .await
        .err()
        .expect("a third is refused");
    assert!(
        matches!(refused, EngineError::SessionLimit { limit: 2 }),
        "{refused:?}"
    );
    assert_eq!(harness.backend.created(), 2, "refused before any sandbox");
    engine
        .create_session(create_request(), "someone-else", 2)
        .await
        .expect("another owner's own limit");
    assert_eq!(engine.sessions(OWNER).len(), 2);
    assert_eq!(harness.backend.live(), 3);
    // Closing one makes room again.
    assert!(engine.close_session(first.id(), OWNER).await);
    engine
        .create_session(create_request(), OWNER, 2)
        .await
        .expect("room again");
    assert_eq!(engine.sessions(OWNER).len(), 2);
    assert_eq!(harness.backend.live(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_lost_spawner_ends_the_session_as_lost() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    execute(&session, "c1", "set x 1").await;
    let mut events = Events::after(&session, session.last_seq());
    let lost_at = Instant::now();
    harness.backend.lose_spawner();
    harness.backend.restarted();
    let closed = events.next().await.expect("the close");
    assert_eq!(
        closed.kind,
        SessionEventKind::Closed {
            reason: "lost".into()
        }
    );
    assert!(
        lost_at.elapsed() <= Duration::from_millis(600),
        "one reaper round"
    );
    assert_eq!(events.next().await, None);
    eventually("the sandbox is destroyed", || harness.backend.live() == 0).await;
    assert!(harness.engine.sessions(OWNER).is_empty());
    // The new spawner serves new sessions.
    let again = open(&harness).await;
    let ran = execute(&again, "c1", "print back").await;
    assert_eq!(
        (ran.status(), ran.stdout().as_str()),
        (RunStatus::Ok, "back\n")
    );
}

#[tokio::test]
async fn closing_a_session_with_a_cell_running_kills_it_and_closed_is_last() {
    let harness = Harness::new().await;
    let session = open(&harness).await;
    let mut events = Events::after(&session, session.last_seq());
    session
        .execute(cell("c1", "print up\nhang"))
        .expect("queued");
    super::wait_for_output(&mut events, "c1", "up").await;
    assert!(harness.engine.close_session(session.id(), OWNER).await);
    assert_eq!(
        harness.backend.live(),
        0,
        "the hanging driver went with its sandbox"
    );
    let mut rest = Vec::new();
    while let Some(event) = events.next().await {
        rest.push(event.kind);
    }
    // Nothing follows `Closed`. The running cell's `Exit` is not promised: the log is closed
    // when the killed cell ends (today it is dropped; the gateway's `collect_result` answers
    // a run cut off that way with its own "lost" outcome).
    assert_eq!(
        rest.last(),
        Some(&SessionEventKind::Closed {
            reason: "closed".into()
        }),
        "{rest:?}"
    );
    eventually("the killed execute is done", || !session.has_run("c1")).await;
    assert_eq!(session.running(), None);
}
