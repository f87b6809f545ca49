//! Memory admission against a real server: the memory limits of every run and session at once
//! fit the server's budget (runs wait for room, sessions and runs that cannot fit are refused
//! by name) and each key's maximum.

mod common;

use common::{connect_with_key, recv, send, Server, Socket, PATIENCE};
use serde_json::{json, Value};

/// Ask for a Python session with `memory_mb`; the reply (`session` created, or an `error`).
async fn ask_session(socket: &mut Socket, id: &str, memory_mb: u64) -> Value {
    send(
        socket,
        json!({"action": "create_session", "language": "python", "id": id,
               "limits": {"memory_mb": memory_mb}}),
    )
    .await;
    loop {
        let reply = recv(socket).await;
        if reply["id"] == id || reply["type"] == "error" {
            return reply;
        }
    }
}

async fn close_session(socket: &mut Socket, session: &str) {
    send(
        socket,
        json!({"action": "close_session", "session": session, "id": "x"}),
    )
    .await;
    loop {
        let reply = recv(socket).await;
        if reply["type"] == "session" && reply["session"] == session && reply["event"] == "closed" {
            return;
        }
    }
}

/// One metric's value from `/metrics`.
async fn metric(server: &Server, name: &str) -> f64 {
    let text = common::metrics_text(server).await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

fn session_id(reply: &Value) -> String {
    assert_eq!(
        (reply["type"].as_str(), reply["event"].as_str()),
        (Some("session"), Some("created")),
        "{reply}"
    );
    reply["session"].as_str().expect("session id").to_owned()
}

#[tokio::test]
async fn runs_wait_and_sessions_are_refused_once_the_servers_budget_is_committed() {
    let server = Server::start(&[
        "--pool-size",
        "0",
        "--session-pool-size",
        "0",
        "--max-committed-memory-mb",
        "600",
    ]);
    assert_eq!(
        metric(&server, "runnel_memory_budget_bytes").await,
        600.0 * 1048576.0
    );
    let mut socket = connect_with_key(&server, &server.key).await;
    let first = session_id(&ask_session(&mut socket, "a", 256).await);
    let _second = session_id(&ask_session(&mut socket, "b", 256).await);
    let refused = ask_session(&mut socket, "c", 256).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("unavailable")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("memory budget of 600 MiB"),
        "{refused}"
    );

    // A run that can never fit is refused at once.
    let mut runs = connect_with_key(&server, &server.key).await;
    send(
        &mut runs,
        json!({"action": "execute", "id": "huge", "language": "python", "code": "print(1)",
               "limits": {"memory_mb": 700}}),
    )
    .await;
    let huge = recv(&mut runs).await;
    assert_eq!(huge["code"], "unavailable", "{huge}");
    assert!(
        huge["message"]
            .as_str()
            .unwrap_or_default()
            .contains("never fit"),
        "{huge}"
    );

    // A run that fits once a session closes waits for it.
    send(
        &mut runs,
        json!({"action": "execute", "id": "waits", "language": "python",
               "code": "print('ran')", "limits": {"memory_mb": 128, "wall_ms": 60000}}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while metric(&server, "runnel_runs_waiting_for_memory").await < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never waited for memory"
        );
        tokio::task::yield_now().await;
    }
    close_session(&mut socket, &first).await;
    let result = loop {
        let message = recv(&mut runs).await;
        if message["id"] == "waits" && message["type"] == "result" {
            break message;
        }
    };
    assert_eq!(result["stdout"], "ran\n", "{result}");
    // With the first session gone and the run's sandbox torn down (after its result), only
    // the second session is held, and a new one fits again.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while metric(&server, "runnel_memory_committed_bytes").await > 256.0 * 1048576.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "memory never given back"
        );
        tokio::task::yield_now().await;
    }
    let _third = session_id(&ask_session(&mut socket, "d", 256).await);
}

#[tokio::test]
async fn a_keys_runs_and_sessions_fit_its_memory_maximum() {
    let server = Server::start(&["--session-pool-size", "0"]);
    let key = server.create_key(&["--max-total-memory-mb", "300"]);
    let mut socket = connect_with_key(&server, &key).await;
    let session = session_id(&ask_session(&mut socket, "a", 256).await);
    let second = ask_session(&mut socket, "b", 256).await;
    assert_eq!(second["code"], "concurrency_limit", "{second}");
    assert!(
        second["message"]
            .as_str()
            .unwrap_or_default()
            .contains("maximum of 300 MiB"),
        "{second}"
    );
    let over = reqwest::Client::new()
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&key)
        .json(&json!({"language": "python", "code": "print(1)", "limits": {"memory_mb": 64}}))
        .send()
        .await
        .expect("request");
    assert_eq!(over.status(), 429);
    let over: Value = over.json().await.expect("json");
    assert_eq!(over["error"], "concurrency_limit", "{over}");
    let within = common::execute_http(
        &server,
        &key,
        json!({"language": "python", "code": "print(2)", "limits": {"memory_mb": 32}}),
    )
    .await;
    assert_eq!(within["stdout"], "2\n", "{within}");
    // Another key is not held back by this one's maximum.
    let other = common::execute_http(
        &server,
        &server.key,
        json!({"language": "python", "code": "print(3)", "limits": {"memory_mb": 256}}),
    )
    .await;
    assert_eq!(other["stdout"], "3\n", "{other}");
    close_session(&mut socket, &session).await;
    // The session's memory is given back when it closes.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let reply = ask_session(&mut socket, "c", 256).await;
        if reply["type"] == "session" {
            break;
        }
        assert_eq!(reply["code"], "concurrency_limit", "{reply}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed session's memory was never given back"
        );
    }
}
