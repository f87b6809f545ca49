//! One-shot runs through the executor: output, stdin, statuses, limits, compile and cache,
//! and that every sandbox is gone at the end.

use std::time::Duration;

use runnel_protocol::{RunStatus, StreamName};

use super::{eventually, request, Harness};
use crate::{RunEvent, Signal};

#[tokio::test]
async fn a_run_streams_stdout_and_stderr_and_exits_ok() {
    let harness = Harness::new().await;
    let finished = harness
        .run("fake", "print hello\neprint warning\nprint world")
        .await;
    assert_eq!(finished.status(), RunStatus::Ok, "{finished:?}");
    assert_eq!(finished.outcome.exit_code, Some(0));
    assert_eq!(finished.output(StreamName::Stdout), "hello\nworld\n");
    assert_eq!(finished.output(StreamName::Stderr), "warning\n");
    eventually("the sandbox is destroyed", || harness.backend.live() == 0).await;
    assert_eq!(harness.backend.created(), 1);
}

#[tokio::test]
async fn a_nonzero_exit_is_a_runtime_error_with_its_code() {
    let harness = Harness::new().await;
    let finished = harness.run("fake", "eprint boom\nexit 3").await;
    assert_eq!(finished.status(), RunStatus::RuntimeError);
    assert_eq!(finished.outcome.exit_code, Some(3));
    assert_eq!(finished.output(StreamName::Stderr), "boom\n");
}

#[tokio::test]
async fn stdin_of_the_request_is_read_to_its_end() {
    let harness = Harness::new().await;
    let mut run = request("fake", "cat");
    run.stdin = Some(b"line one\nline two\n".to_vec());
    let finished = harness.run_request(run).await;
    assert_eq!(finished.status(), RunStatus::Ok);
    assert_eq!(finished.output(StreamName::Stdout), "line one\nline two\n");
}

#[tokio::test]
async fn stdin_written_while_the_program_runs_reaches_it() {
    let harness = Harness::new().await;
    let mut run = request("fake", "print ready\nreadline\nprint done");
    run.close_stdin = false;
    let mut handle = harness.engine.run(run).expect("accepted");
    let controller = handle.controller();
    // Answer once the program asked: its first line is out.
    loop {
        match handle.next_event().await.expect("an event") {
            RunEvent::Output { data, .. } if data == b"ready\n" => break,
            RunEvent::Exit(outcome) => panic!("ended early: {outcome:?}"),
            _ => {}
        }
    }
    controller
        .write_stdin(b"typed\n".to_vec(), true)
        .expect("stdin accepted");
    let finished = super::finish_after_start(handle).await;
    assert_eq!(finished.status(), RunStatus::Ok);
    assert_eq!(finished.output(StreamName::Stdout), "got: typed\ndone\n");
}

#[tokio::test]
async fn arguments_reach_the_program() {
    let harness = Harness::new().await;
    let mut run = request("fake", "args");
    run.args = vec!["one".to_owned(), "two words".to_owned()];
    let finished = harness.run_request(run).await;
    assert_eq!(finished.output(StreamName::Stdout), "one two words\n");
}

#[tokio::test(start_paused = true)]
async fn a_program_past_its_wall_limit_is_killed_with_timeout() {
    let harness = Harness::new().await;
    let mut run = request("fake", "print started\nhang");
    run.limits.wall = Duration::from_secs(2);
    let begun = tokio::time::Instant::now();
    let finished = harness.run_request(run).await;
    assert_eq!(finished.status(), RunStatus::Timeout, "{finished:?}");
    assert_eq!(
        finished.outcome.message.as_deref(),
        Some("wall-clock limit of 2000 ms")
    );
    assert_eq!(finished.output(StreamName::Stdout), "started\n");
    let took = begun.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "{took:?}"
    );
    eventually("the sandbox is destroyed", || harness.backend.live() == 0).await;
}

#[tokio::test]
async fn the_kernel_counters_name_the_limit_hit() {
    let harness = Harness::new().await;
    let oom = harness.run("fake", "print allocating\noom").await;
    assert_eq!(oom.status(), RunStatus::MemoryLimit, "{oom:?}");
    let cpu = harness.run("fake", "burn").await;
    assert_eq!(cpu.status(), RunStatus::CpuLimit, "{cpu:?}");
    let pids = harness.run("fake", "forkbomb").await;
    assert_eq!(pids.status(), RunStatus::RuntimeError, "{pids:?}");
    assert!(
        pids.outcome
            .message
            .as_deref()
            .is_some_and(|message| message.contains("process")),
        "the pids limit is named: {pids:?}"
    );
}

#[tokio::test]
async fn output_past_the_limit_is_cut_and_the_run_ends_with_output_limit() {
    let harness = Harness::new().await;
    let mut run = request("fake", "flood 10000000");
    run.limits.output_bytes = 100_000;
    let finished = harness.run_request(run).await;
    assert_eq!(
        finished.status(),
        RunStatus::OutputLimit,
        "{:?}",
        finished.outcome
    );
    assert!(finished.outcome.truncated);
    let stdout = finished.output(StreamName::Stdout);
    assert_eq!(stdout.len(), 100_000, "exactly the limit is delivered");
}

#[tokio::test]
async fn a_kill_signal_ends_the_run_as_killed() {
    let harness = Harness::new().await;
    let mut run = request("fake", "print up\nhang");
    run.close_stdin = false;
    let mut handle = harness.engine.run(run).expect("accepted");
    loop {
        match handle.next_event().await.expect("an event") {
            RunEvent::Output { data, .. } if data == b"up\n" => break,
            RunEvent::Exit(outcome) => panic!("ended early: {outcome:?}"),
            _ => {}
        }
    }
    assert!(handle.controller().signal(Signal::Kill));
    let finished = super::finish_after_start(handle).await;
    assert_eq!(
        finished.status(),
        RunStatus::Killed,
        "{:?}",
        finished.outcome
    );
}

#[tokio::test]
async fn an_interrupt_reaches_a_program_that_traps_it() {
    let harness = Harness::new().await;
    let mut run = request("fake", "print up\ntrap");
    run.close_stdin = false;
    let mut handle = harness.engine.run(run).expect("accepted");
    loop {
        match handle.next_event().await.expect("an event") {
            RunEvent::Output { data, .. } if data == b"up\n" => break,
            RunEvent::Exit(outcome) => panic!("ended early: {outcome:?}"),
            _ => {}
        }
    }
    assert!(handle.controller().signal(Signal::Interrupt));
    let finished = super::finish_after_start(handle).await;
    assert_eq!(finished.output(StreamName::Stdout), "signal 2\n");
    assert_eq!(finished.outcome.exit_code, Some(130));
}

#[tokio::test]
async fn an_unknown_language_is_refused_before_any_sandbox() {
    let harness = Harness::new().await;
    let error = harness
        .engine
        .run(request("cobol", "print x"))
        .expect_err("refused");
    assert!(matches!(error, crate::EngineError::UnknownLanguage(ref id) if id == "cobol"));
    assert_eq!(harness.backend.created(), 0);
}

#[tokio::test]
async fn a_compile_error_is_reported_from_the_compile_step_and_nothing_runs() {
    let harness = Harness::new().await;
    let finished = harness.run("fakec", "print never\nerror").await;
    assert_eq!(
        finished.status(),
        RunStatus::CompileError,
        "{:?}",
        finished.outcome
    );
    assert!(finished
        .compile_output(StreamName::Stderr)
        .contains("error: expected ';'"));
    assert_eq!(finished.output(StreamName::Stdout), "");
}

#[tokio::test]
async fn a_compiled_program_runs_and_its_second_run_comes_from_the_cache() {
    let harness = Harness::new().await;
    let first = harness.run("fakec", "print compiled").await;
    assert_eq!(first.status(), RunStatus::Ok, "{first:?}");
    assert_eq!(first.output(StreamName::Stdout), "compiled\n");
    assert!(!first.outcome.cached);
    let second = harness.run("fakec", "print compiled").await;
    assert_eq!(second.status(), RunStatus::Ok, "{second:?}");
    assert_eq!(second.output(StreamName::Stdout), "compiled\n");
    assert!(second.outcome.cached, "{:?}", second.outcome);
    assert_eq!(harness.toolchain.compiles(), 1, "the compiler ran once");
    let other = harness.run("fakec", "print other").await;
    assert_eq!(other.output(StreamName::Stdout), "other\n");
    assert_eq!(
        harness.toolchain.compiles(),
        2,
        "other sources compile again"
    );
}

#[tokio::test]
async fn a_failing_spawner_fails_the_run_with_an_internal_error_and_no_sandbox_leaks() {
    let harness = Harness::new().await;
    harness.backend.fail_creates(1);
    let failed = harness.run("fake", "print x").await;
    assert_eq!(failed.status(), RunStatus::InternalError, "{failed:?}");
    let next = harness.run("fake", "print x").await;
    assert_eq!(next.status(), RunStatus::Ok);
    eventually("every sandbox is destroyed", || harness.backend.live() == 0).await;
}
