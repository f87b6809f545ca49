//! End-to-end: the Rust client, `runnel exec`, `runnel bench` and the key commands, against a
//! real server.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::*;
use runnel_client::bench::{bench, BenchOptions, Scenario};
use runnel_client::{Client, ClientError};
use runnel_protocol::{ErrorCode, ExecuteRequest, RunStatus, ServerMessage};

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::start(&["--pool-size", "1"]))
}

fn python(code: &str) -> ExecuteRequest {
    ExecuteRequest {
        language: "python".to_owned(),
        code: Some(code.to_owned()),
        ..ExecuteRequest::default()
    }
}

#[tokio::test]
async fn client_pings_runs_and_streams() {
    let client = Client::connect(&format!("ws://{}", server().address), &server().key)
        .await
        .expect("connect");
    assert!(client.ping().await.expect("ping") < Duration::from_secs(30));
    let result = client.run(python("print('hi')")).await.expect("run");
    assert_eq!(
        (result.stdout.as_str(), result.status),
        ("hi\n", RunStatus::Ok)
    );
    let mut run = client
        .execute(python("print('hi')"))
        .await
        .expect("execute");
    let mut types = Vec::new();
    let mut stdout = String::new();
    while let Some(event) = run.next_event().await {
        if let ServerMessage::Stdout(chunk) = &event {
            stdout.push_str(&chunk.data);
        }
        let kind = serde_json::to_value(&event).expect("json")["type"].clone();
        if types.last() != Some(&kind) {
            types.push(kind);
        }
    }
    assert_eq!(types, ["started", "stdout", "exit"]);
    assert_eq!(stdout, "hi\n");
}

#[tokio::test]
async fn client_routes_concurrent_runs_with_stdin_and_signals() {
    let client = Client::connect(&server().ws_url(), &server().key)
        .await
        .expect("connect");
    let echo_code = "import sys\nfor line in sys.stdin: print(line, end='', flush=True)";
    let mut echo = client.execute(python(echo_code)).await.expect("echo");
    let mut interrupted = client
        .execute(python(
            "import time\nprint('up', flush=True)\ntime.sleep(600)",
        ))
        .await
        .expect("sleeper");
    loop {
        match interrupted.next_event().await {
            Some(ServerMessage::Stdout(_)) => break,
            Some(ServerMessage::Started(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    echo.write_stdin("one\n", false).await.expect("stdin");
    interrupted.signal("SIGINT").await.expect("signal");
    echo.write_stdin("two\n", true).await.expect("stdin eof");
    loop {
        match interrupted.next_event().await {
            Some(ServerMessage::Exit(exit)) => {
                assert_eq!(exit.status, RunStatus::Killed);
                assert_eq!(exit.signal.as_deref(), Some("SIGINT"));
                break;
            }
            Some(_) => continue,
            None => panic!("no exit"),
        }
    }
    let mut echoed = String::new();
    while let Some(event) = echo.next_event().await {
        if let ServerMessage::Stdout(chunk) = event {
            echoed.push_str(&chunk.data);
        }
    }
    assert_eq!(echoed, "one\ntwo\n");
}

#[tokio::test]
async fn client_errors_are_named() {
    let url = server().ws_url();
    // The server answers a wrong key with an `unauthorized` frame and a close, so the refusal
    // shows on connect or, at the latest, on the first call.
    match Client::connect(&url, "rk_wrong").await {
        Err(ClientError::Unauthorized { .. }) => {}
        Ok(client) => match client.ping().await {
            Err(ClientError::Unauthorized { .. }) => {}
            other => panic!("expected unauthorized, got {other:?}"),
        },
        Err(other) => panic!("expected unauthorized, got {other:?}"),
    }
    let client = Client::connect(&url, &server().key).await.expect("connect");
    let mut unknown = python("x");
    unknown.language = "cobol-on-wheels".to_owned();
    match client.run(unknown).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::UnknownLanguage),
        other => panic!("expected unknown_language, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_every_scenario_against_the_server() {
    let options = BenchOptions {
        url: server().ws_url(),
        api_key: server().key.clone(),
        warmup: 1,
        n: 5,
        throughput_runs: 16,
        concurrency: 4,
        ..BenchOptions::default()
    };
    let report = bench(options).await.expect("bench");
    assert!(report.failures.is_empty(), "{report}");
    let scenarios: Vec<&str> = report
        .rows
        .iter()
        .map(|row| row.scenario.as_str())
        .collect();
    for scenario in Scenario::ALL {
        assert!(
            scenarios.contains(&scenario.as_str()),
            "{scenario} missing: {report}"
        );
    }
    for row in &report.rows {
        assert_eq!(row.errors, 0, "{report}");
    }
}

#[test]
fn exec_streams_output_with_stdin_and_returns_the_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let program = dir.path().join("greet.py");
    std::fs::write(
        &program,
        "import sys\nname = input()\nprint(f'Hello, {name}!')\nprint('to stderr', file=sys.stderr)\nsys.exit(7)\n",
    )
    .expect("write program");
    let mut child = Command::new(RUNNEL)
        .arg("exec")
        .arg(&program)
        .args(["--url", &server().ws_url(), "--api-key", &server().key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runnel exec");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"Ada\n")
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hello, Ada!\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("to stderr"));
    assert_eq!(output.status.code(), Some(7), "{output:?}");
}

#[test]
fn keys_create_prints_the_key_alone_on_the_last_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(RUNNEL)
        .args(["keys", "create", "--name", "ci", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("keys create");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    let last = stdout.lines().last().expect("last line");
    assert!(last.starts_with("rk_") && !last.contains(' '), "{stdout}");
    let database = std::fs::read(dir.path().join("runnel.db")).expect("database file");
    assert!(
        !database
            .windows(last.len())
            .any(|window| window == last.as_bytes()),
        "the key must be stored hashed, never in plaintext"
    );
}

#[test]
fn first_start_without_keys_creates_and_prints_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(RUNNEL)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--pool-size",
            "0",
            "--stop-on-stdin-close",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUNNEL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("serve");
    use std::io::{BufRead, BufReader};
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        let done = line.starts_with("runnel listening on");
        lines.push(line);
        if done {
            break;
        }
    }
    drop(child.stdin.take());
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let key = lines
        .iter()
        .find(|line| line.starts_with("rk_"))
        .unwrap_or_else(|| panic!("no key printed: {lines:?}"));
    let listing = Command::new(RUNNEL)
        .args(["keys", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("keys list");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("initial"), "{listing}");
    assert!(listing.contains(&key[..10]), "{listing}");
}

#[test]
fn sigterm_stops_a_server_whose_stdin_stays_open() {
    // The harness keeps the server's stdin open (`--stop-on-stdin-close`): SIGTERM alone must
    // still stop it, and cleanly.
    let server = Server::start(&[]);
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(server.stop());
    });
    let status = stopped
        .recv_timeout(PATIENCE)
        .expect("runnel serve exits on SIGTERM with its stdin still open");
    assert!(status.success(), "{status:?}");
}
