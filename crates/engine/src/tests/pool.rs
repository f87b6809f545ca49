//! The warm pools, the memory budget, refill failures and shutdown on the fake backend. The
//! pooled language `fakewarm` has a warm-start driver (`/fake/warm`, [`super::warm`]); `fake`
//! pools bare sandboxes; `fakerepl` pools sessions with their driver ready.

use std::time::Duration;

use runnel_protocol::http::HealthStatus;
use runnel_protocol::{RunStatus, StreamName};

use super::{eventually, finish_after_start, request, Harness};
use crate::{CreateSession, EngineConfig, Limits, RunEvent};

/// A pool of `size` of each of `languages` for runs, and no session pool.
fn pool_of(size: usize, languages: &[&str]) -> impl FnOnce(&mut EngineConfig) {
    let languages: Vec<String> = languages.iter().map(|id| (*id).to_owned()).collect();
    move |config| {
        config.pool_size = size;
        config.pool_languages = languages;
    }
}

#[tokio::test]
async fn the_pool_fills_to_its_target_for_each_language() {
    let harness = Harness::with(pool_of(2, &["fakewarm", "fake"])).await;
    eventually("two ready of each", || {
        let ready = harness.engine.stats().pool_ready;
        ready.get("fake") == Some(&2) && ready.get("fakewarm") == Some(&2)
    })
    .await;
    assert_eq!(harness.backend.live(), 4);
    assert_eq!(harness.warm.started(), 2, "a driver in each warm sandbox");
    assert_eq!(harness.warm.launched(), 0, "nothing ran yet");
}

#[tokio::test]
async fn a_run_is_launched_in_a_warm_driver_and_the_pool_refills() {
    let harness = Harness::with(pool_of(1, &["fakewarm"])).await;
    eventually("one ready", || harness.warm.started() == 1).await;
    eventually("it is in the pool", || {
        harness.engine.stats().pool_ready.get("fakewarm") == Some(&1)
    })
    .await;

    let mut run = request("fakewarm", "print hello\nargs");
    run.files[0].name = "main.fw".to_owned();
    run.args = vec!["a b".to_owned(), "c".to_owned()];
    let finished = harness.run_request(run).await;
    assert_eq!(finished.status(), RunStatus::Ok, "{:?}", finished.outcome);
    assert_eq!(finished.output(StreamName::Stdout), "hello\na b c\n");
    assert_eq!(
        harness.warm.launched(),
        1,
        "the warm driver ran the program"
    );

    eventually("refilled", || harness.warm.started() == 2).await;
    eventually("the used sandbox is gone", || harness.backend.live() == 1).await;
    // One for the first fill, one for the refill: the run made none of its own.
    assert_eq!(harness.backend.created(), 2);
    assert_eq!(harness.engine.stats().pool_taken.get("fakewarm"), Some(&1));
}

#[tokio::test]
async fn no_pooled_sandbox_serves_a_second_run() {
    let harness = Harness::with(pool_of(1, &["fakewarm"])).await;
    let mut launched = 0;
    for (number, code) in [
        "write note.txt secret\nshow note.txt",
        "show note.txt",
        "show note.txt",
    ]
    .into_iter()
    .enumerate()
    {
        eventually("a warm sandbox is ready", || {
            harness.engine.stats().pool_ready.get("fakewarm") == Some(&1)
        })
        .await;
        let mut run = request("fakewarm", code);
        run.files[0].name = "main.fw".to_owned();
        let finished = harness.run_request(run).await;
        let expected = if number == 0 {
            "secret\n"
        } else {
            "no note.txt\n"
        };
        assert_eq!(
            finished.output(StreamName::Stdout),
            expected,
            "run {number}"
        );
        launched += 1;
        assert_eq!(
            harness.warm.launched(),
            launched,
            "each run had its own driver"
        );
    }
    eventually("refilled", || harness.warm.started() == 4).await;
    eventually("only the ready one is left", || harness.backend.live() == 1).await;
    assert_eq!(harness.backend.created(), 4, "three used, one ready");
}

#[tokio::test]
async fn a_run_with_other_limits_gets_a_pooled_sandbox_but_not_its_warm_driver() {
    let harness = Harness::with(pool_of(1, &["fakewarm"])).await;
    eventually("one ready", || {
        harness.engine.stats().pool_ready.get("fakewarm") == Some(&1)
    })
    .await;
    let mut run = request("fakewarm", "print cold");
    run.files[0].name = "main.fw".to_owned();
    run.limits.memory_bytes = 2 * Limits::DEFAULT.memory_bytes;
    let finished = harness.run_request(run).await;
    assert_eq!(finished.status(), RunStatus::Ok, "{:?}", finished.outcome);
    assert_eq!(finished.output(StreamName::Stdout), "cold\n");
    // The driver was started with the default memory in its settings: it must not run this.
    assert_eq!(harness.warm.launched(), 0);
    assert_eq!(harness.engine.stats().pool_taken.get("fakewarm"), Some(&1));
}

#[tokio::test]
async fn a_warm_driver_that_died_in_the_pool_does_not_fail_its_run() {
    let harness = Harness::build(pool_of(1, &["fakewarm"]), |_, warm| warm.die_next(1)).await;
    eventually("one ready", || {
        harness.engine.stats().pool_ready.get("fakewarm") == Some(&1)
    })
    .await;
    let mut run = request("fakewarm", "print still here");
    run.files[0].name = "main.fw".to_owned();
    let finished = harness.run_request(run).await;
    assert_eq!(finished.status(), RunStatus::Ok, "{:?}", finished.outcome);
    assert_eq!(finished.output(StreamName::Stdout), "still here\n");
    eventually("refilled, nothing leaked", || {
        harness.warm.started() == 2 && harness.backend.live() == 1
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failed_refills_are_reported_then_the_pool_recovers() {
    let harness = Harness::build(pool_of(1, &["fake"]), |backend, _| backend.fail_creates(3)).await;
    eventually("the failures are counted", || {
        harness.engine.stats().pool_refill_failures.get("fake") == Some(&3)
    })
    .await;
    eventually("the pool recovers after its backoff", || {
        harness.engine.stats().pool_ready.get("fake") == Some(&1)
    })
    .await;
    assert_eq!(harness.backend.live(), 1);
    assert_eq!(
        harness.engine.health().status,
        HealthStatus::Ready,
        "{:?}",
        harness.engine.health()
    );
}

#[tokio::test(start_paused = true)]
async fn failing_refills_degrade_health_by_name() {
    let harness = Harness::build(pool_of(1, &["fake"]), |backend, _| {
        backend.fail_creates(u64::MAX)
    })
    .await;
    eventually("degraded", || {
        harness.engine.health().status == HealthStatus::Degraded
    })
    .await;
    let health = harness.engine.health();
    assert!(
        health
            .problems
            .iter()
            .any(|problem| problem.component == "pool" && problem.detail.contains("fake")),
        "{health:?}"
    );
    // Runs still work: they make their own sandbox (and that fails by name here).
    let finished = harness.run("fake", "print x").await;
    assert_eq!(finished.status(), RunStatus::InternalError);
}

#[tokio::test]
async fn a_session_takes_a_ready_driver_and_the_session_pool_refills() {
    let harness = Harness::with(|config| {
        config.sessions.pool_size = 1;
        config.pool_languages = vec!["fakerepl".to_owned()];
    })
    .await;
    eventually("a session is ready", || harness.backend.live() == 1).await;
    let create = || CreateSession {
        language: "fakerepl".to_owned(),
        limits: Limits::DEFAULT,
        idle_timeout: None,
    };
    let session = harness
        .engine
        .create_session(create(), "tester", 0)
        .await
        .expect("created");
    eventually("refilled", || harness.backend.live() == 2).await;
    assert_eq!(
        harness.backend.created(),
        2,
        "the session came from the pool"
    );

    // Other limits: a session of its own, the ready one stays.
    let mut bigger = create();
    bigger.limits.memory_bytes *= 2;
    let other = harness
        .engine
        .create_session(bigger, "tester", 0)
        .await
        .expect("created");
    assert_eq!(harness.backend.created(), 3);
    assert_eq!(harness.backend.live(), 3);
    assert!(harness.engine.close_session(session.id(), "tester").await);
    assert!(harness.engine.close_session(other.id(), "tester").await);
    eventually("only the ready one is left", || harness.backend.live() == 1).await;
}

#[tokio::test]
async fn shutdown_destroys_every_pooled_sandbox_and_session() {
    let harness = Harness::with(|config| {
        config.pool_size = 2;
        config.sessions.pool_size = 1;
        config.pool_languages = vec!["fakewarm".to_owned(), "fakerepl".to_owned()];
    })
    .await;
    // Runs: two of each; sessions: one of fakerepl (fakewarm has no session driver).
    eventually("the pools are full", || harness.backend.live() == 5).await;
    harness.engine.shutdown().await;
    assert_eq!(
        harness.backend.live(),
        0,
        "{:?}",
        harness.backend.live_specs()
    );
}

#[tokio::test(start_paused = true)]
async fn runs_past_the_memory_budget_wait_their_turn_and_sessions_are_refused() {
    // Room for one sandbox of the default 256 MiB, not two.
    let harness = Harness::with(|config| {
        config.max_committed_memory_bytes = 384 << 20;
    })
    .await;
    let mut first = request("fake", "print first\nreadline");
    first.close_stdin = false;
    first.limits.wall = Duration::from_secs(3600);
    let mut first = harness.engine.run(first).expect("accepted");
    loop {
        match first.next_event().await.expect("an event") {
            RunEvent::Output { data, .. } if data == b"first\n" => break,
            RunEvent::Exit(outcome) => panic!("ended early: {outcome:?}"),
            _ => {}
        }
    }
    let mut second = request("fake", "print second");
    second.id = "r2".to_owned();
    let second = harness.engine.run(second).expect("accepted");
    eventually("the second run waits for memory", || {
        harness.engine.stats().waiting_for_memory == 1
    })
    .await;
    // Nothing else can happen until the first run ends: time passes, the second still waits.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(harness.engine.stats().waiting_for_memory, 1);
    assert_eq!(harness.backend.created(), 1);

    let refused = harness
        .engine
        .create_session(
            CreateSession {
                language: "fakerepl".to_owned(),
                limits: Limits::DEFAULT,
                idle_timeout: None,
            },
            "tester",
            0,
        )
        .await
        .err()
        .map(|error| error.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|message| message.contains("memory budget")),
        "{refused:?}"
    );

    first
        .controller()
        .write_stdin(b"go\n".to_vec(), true)
        .expect("stdin");
    let first = finish_after_start(first).await;
    assert_eq!(first.status(), RunStatus::Ok);
    let second = super::finish(second).await;
    assert_eq!(second.status(), RunStatus::Ok, "{:?}", second.outcome);
    assert_eq!(second.output(StreamName::Stdout), "second\n");
    assert_eq!(harness.engine.stats().waiting_for_memory, 0);
}
