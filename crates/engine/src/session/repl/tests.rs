//! The kernel against a scripted driver on real pipes, with tokio's clock paused while the
//! driver starts: the start has a deadline of its own, and a cell's clock starts after it.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::*;

/// The driver's ends of the kernel's pipes.
struct ScriptedDriver {
    control: BufReader<pipe::Receiver>,
    events: pipe::Sender,
    stdout: pipe::Sender,
    stderr: pipe::Sender,
    _stdin: pipe::Receiver,
}

/// A kernel that is not yet ready (call `ready`), its driver, and the signals it sends.
fn kernel() -> (Kernel, ScriptedDriver, Arc<Mutex<Vec<i32>>>) {
    let (control, control_read) = pipe::pipe().unwrap();
    let (events_write, events) = pipe::pipe().unwrap();
    let (stdin, stdin_read) = pipe::pipe().unwrap();
    let (stdout_write, stdout) = pipe::pipe().unwrap();
    let (stderr_write, stderr) = pipe::pipe().unwrap();
    let signals = Arc::new(Mutex::new(Vec::new()));
    let pipes = DriverPipes {
        control,
        events,
        stdin: Some(stdin),
        stdout,
        stderr,
    };
    let kernel = Kernel::new(Group::Recorded(signals.clone()), pipes, false, None);
    let driver = ScriptedDriver {
        control: BufReader::new(control_read),
        events: events_write,
        stdout: stdout_write,
        stderr: stderr_write,
        _stdin: stdin_read,
    };
    (kernel, driver, signals)
}

impl ScriptedDriver {
    /// Answer one `execute` at once: the markers, then `done`; returns the execute line.
    async fn answer_one_cell(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.control.read_line(&mut line).await.unwrap();
        let execute: serde_json::Value = serde_json::from_str(&line).unwrap();
        let marker = execute["marker"].as_str().unwrap().to_owned();
        self.stdout
            .write_all(format!("out{marker}").as_bytes())
            .await
            .unwrap();
        self.stderr.write_all(marker.as_bytes()).await.unwrap();
        let done = serde_json::json!({"op": "done", "id": execute["id"], "status": "ok"});
        self.events
            .write_all(format!("{done}\n").as_bytes())
            .await
            .unwrap();
        execute
    }
}

#[tokio::test]
async fn a_slow_start_does_not_count_against_the_first_cell() {
    let limits = Limits::DEFAULT;
    let (kernel, mut driver, signals) = kernel();
    tokio::time::pause();
    let begun = tokio::time::Instant::now();
    let script = tokio::spawn(async move {
        // Three wall-clock limits to start (a JVM compiler on a loaded machine), less than
        // the start's own deadline.
        let start = limits.wall * 3;
        assert!(start < DRIVER_START_TIMEOUT);
        tokio::time::sleep(start).await;
        driver
            .events
            .write_all(b"{\"op\":\"ready\"}\n")
            .await
            .unwrap();
        driver
    });
    let mut kernel = kernel.ready(DRIVER_START_TIMEOUT).await.unwrap();
    assert!(begun.elapsed() >= limits.wall * 3);
    let mut driver = script.await.unwrap();
    // The cell itself runs on the real clock, answered at once.
    tokio::time::resume();
    let answer = tokio::spawn(async move { driver.answer_one_cell().await });
    let (_input, mut input) = crate::input::channel();
    let output = Mutex::new(Vec::new());
    let emit = |event: CellEvent| {
        if let CellEvent::Output(_, data) = event {
            output.lock().unwrap().extend(data);
        }
    };
    let end = kernel
        .run_cell("print('x')", None, limits, &mut input, &emit)
        .await;
    assert_eq!(
        end.outcome.status,
        RunStatus::Ok,
        "{:?}",
        end.outcome.message
    );
    assert!(end.outcome.wall_time < limits.wall);
    assert!(end.kernel_alive);
    assert_eq!(output.into_inner().unwrap(), b"out");
    assert!(
        signals.lock().unwrap().is_empty(),
        "no interrupt on time-out"
    );
    // The wire carries the host's cell id, and the code as JSON text.
    let execute = answer.await.unwrap();
    assert_eq!(execute["id"], "cell-1");
    assert_eq!(execute["code"], "print('x')");
}

#[tokio::test]
async fn a_driver_that_never_says_ready_fails_at_its_own_deadline() {
    let (kernel, mut driver, signals) = kernel();
    driver.stderr.write_all(b"no runtime here\n").await.unwrap();
    // Lines that are not `ready` do not count as one.
    driver
        .events
        .write_all(b"garbage\n{\"op\":\"done\",\"status\":\"ok\"}\n")
        .await
        .unwrap();
    tokio::time::pause();
    let begun = tokio::time::Instant::now();
    let Err((reason, said)) = kernel.ready(DRIVER_START_TIMEOUT).await else {
        panic!("a driver without `ready` started");
    };
    assert_eq!(reason, DriverStartError::TimedOut(DRIVER_START_TIMEOUT));
    assert!(begun.elapsed() >= DRIVER_START_TIMEOUT);
    assert_eq!(said, "no runtime here");
    // Killed (again when the kernel is dropped), never interrupted.
    let sent = signals.lock().unwrap().clone();
    assert!(!sent.is_empty() && sent.iter().all(|&signal| signal == Signal::Kill.number()));
    let error = EngineError::DriverStart {
        language: "kotlin".to_owned(),
        reason,
        said,
    };
    assert_eq!(
        error.to_string(),
        "the kotlin session driver did not start: no `ready` within 60 s; it said: no runtime here"
    );
}

#[tokio::test]
async fn a_driver_that_exits_before_ready_is_told_apart() {
    let (kernel, driver, _) = kernel();
    drop(driver);
    let Err((reason, said)) = kernel.ready(DRIVER_START_TIMEOUT).await else {
        panic!("a driver that exited started");
    };
    assert_eq!((reason, said.as_str()), (DriverStartError::Ended, ""));
}
