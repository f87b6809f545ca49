//! Sessions' CPU and lifetime against a real server and sandbox: a cell's CPU limit holds and
//! its CPU time and peak memory are the sandbox's own; what cells leave running counts
//! against the session's CPU budget, which closes it; a session lives no longer than its
//! longest life however active it is.

mod common;

use common::{connect, recv, send, Server, Socket};
use serde_json::{json, Value};

/// Create a Python session over `socket`; returns its id.
async fn create_session(socket: &mut Socket) -> String {
    send(
        socket,
        json!({"action": "create_session", "language": "python", "id": "c"}),
    )
    .await;
    let reply = recv(socket).await;
    assert_eq!(
        (reply["type"].as_str(), reply["event"].as_str()),
        (Some("session"), Some("created")),
        "{reply}"
    );
    reply["session"].as_str().expect("session id").to_owned()
}

/// Execute `code` in `session` with `limits` and return its `exit`, failing on errors.
async fn execute(socket: &mut Socket, session: &str, id: &str, code: &str, limits: Value) -> Value {
    send(
        socket,
        json!({"action": "execute", "session": session, "id": id, "code": code,
               "stream": true, "limits": limits}),
    )
    .await;
    loop {
        let message = recv(socket).await;
        assert_ne!(message["type"], "error", "{message}");
        if message["id"] == id && message["type"] == "exit" {
            return message;
        }
    }
}

/// Wait for `session`'s `session` message with `event`, ignoring everything else.
async fn session_event(socket: &mut Socket, session: &str, event: &str) {
    loop {
        let message = recv(socket).await;
        if message["type"] == "session" && message["session"] == session {
            if message["event"] == event {
                return;
            }
            assert_ne!(message["event"], "closed", "{message}");
        }
    }
}

const GENEROUS_WALL: u64 = 120_000;

#[tokio::test]
async fn a_cells_cpu_limit_holds_and_it_reports_the_sandboxs_cpu_and_memory() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket).await;
    let limits = json!({"wall_ms": GENEROUS_WALL, "cpu_ms": 1000});
    let defined = execute(&mut socket, &session, "a", "x = 42", limits.clone()).await;
    assert_eq!(defined["status"], "ok", "{defined}");

    // A busy cell ends at its CPU limit, long before its wall-clock limit.
    let spun = execute(
        &mut socket,
        &session,
        "b",
        "while True: pass",
        limits.clone(),
    )
    .await;
    assert_eq!(spun["status"], "cpu_limit", "{spun}");
    let cpu = spun["cpu_time"].as_f64().expect("cpu_time");
    assert!(cpu >= 1000.0, "the cell used its whole CPU limit: {spun}");
    // The interrupt ended only the cell: the interpreter and its state live on.
    let after = execute(&mut socket, &session, "c", "print(x)", limits.clone()).await;
    assert_eq!(after["status"], "ok", "{after}");

    // CPU time and memory are measured, not zero. The cgroup's count and the process's own
    // clock differ by a few milliseconds (296 ms were seen for 300): most of it must show.
    let busy =
        "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass";
    let measured = execute(&mut socket, &session, "d", busy, limits.clone()).await;
    assert_eq!(measured["status"], "ok", "{measured}");
    assert!(
        measured["cpu_time"].as_f64().expect("cpu_time") >= 200.0,
        "{measured}"
    );
    let big = "block = bytearray(100 << 20)\nblock[::4096] = b'x' * len(block[::4096])\ndel block";
    let large = execute(&mut socket, &session, "e", big, limits.clone()).await;
    assert_eq!(large["status"], "ok", "{large}");
    let peak = large["memory"].as_u64().expect("memory");
    assert!(peak >= 100 << 20, "a 100 MiB cell's peak: {large}");
    // Each cell's peak starts again from what the session holds (cgroup v1 hosts, as here).
    let small = execute(&mut socket, &session, "f", "print(1)", limits).await;
    let small_peak = small["memory"].as_u64().expect("memory");
    assert!(
        small_peak < 100 << 20 && small_peak > 0,
        "a small cell after a large one: {small}"
    );
}

#[tokio::test]
async fn what_cells_leave_running_counts_against_the_sessions_cpu_budget() {
    let server = Server::start(&["--session-cpu-budget", "2"]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket).await;
    let leave = "import subprocess\n\
                 subprocess.Popen(['/usr/bin/python3', '-c', 'while True: pass'])\n\
                 print('left running')";
    let cell = execute(
        &mut socket,
        &session,
        "a",
        leave,
        json!({"wall_ms": GENEROUS_WALL}),
    )
    .await;
    assert_eq!(cell["status"], "ok", "{cell}");
    // No cell runs now; the process left behind uses the budget up, and the session ends.
    session_event(&mut socket, &session, "cpu_limit").await;
    let gone = reqwest::Client::new()
        .get(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("request");
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn a_session_lives_no_longer_than_its_longest_life_however_active() {
    let server = Server::start(&["--session-max-lifetime", "3"]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket).await;
    // Cells back to back keep it active; it still ends.
    let deadline = tokio::time::Instant::now() + common::PATIENCE;
    for number in 0.. {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session outlived its longest life of 3 s by a minute"
        );
        let id = format!("r{number}");
        send(
            &mut socket,
            json!({"action": "execute", "session": session, "id": id, "code": "print(1)",
                   "stream": true, "limits": {"wall_ms": GENEROUS_WALL}}),
        )
        .await;
        let ended = loop {
            let message = recv(&mut socket).await;
            if message["type"] == "session" && message["event"] == "expired" {
                break true;
            }
            if message["id"] == id.as_str() && message["type"] == "exit" {
                break false;
            }
            if message["type"] == "error" {
                // An execute sent as the session ended.
                assert_eq!(message["code"], "not_found", "{message}");
            }
        };
        if ended {
            break;
        }
    }
}

#[tokio::test]
async fn a_keys_cpu_budget_refuses_its_runs_once_used() {
    let server = Server::start(&[]);
    let key = server.create_key(&["--cpu-ms-per-minute", "1000"]);
    let busy =
        "import time\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass";
    let spent = common::execute_http(
        &server,
        &key,
        json!({"language": "python", "code": busy,
               "limits": {"wall_ms": GENEROUS_WALL, "cpu_ms": 5000}}),
    )
    .await;
    assert_eq!(spent["status"], "ok", "{spent}");
    assert!(
        // Well over the budget of 1,000 ms, whatever the clocks' few ms of difference.
        spent["cpu_time"].as_f64().expect("cpu_time") >= 1200.0,
        "{spent}"
    );

    // 1.5 s of a 1 s per minute budget: the next runs wait about half a minute.
    let refused = reqwest::Client::new()
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&key)
        .json(&json!({"language": "python", "code": "print(1)"}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CPU budget"),
        "{body}"
    );
    // Session cells draw on the same budget.
    let mut socket = common::connect_with_key(&server, &key).await;
    let session = create_session(&mut socket).await;
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "s", "code": "print(1)"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("rate_limited")),
        "{reply}"
    );
    // Another key is not held back.
    let other = common::execute_http(
        &server,
        &server.key,
        json!({"language": "python", "code": "print(2)"}),
    )
    .await;
    assert_eq!(other["stdout"], "2\n", "{other}");
}
