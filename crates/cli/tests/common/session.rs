//! Helpers of the `sessions_*` tests: create, execute in and close a session over the
//! WebSocket, gather a run's events, and read them.

use serde_json::{json, Value};

use super::{recv, send, Server, Socket};

/// Create a session over `socket`; returns its id.
pub async fn create_session(socket: &mut Socket, language: &str) -> String {
    send(
        socket,
        json!({"action": "create_session", "language": language, "id": "c"}),
    )
    .await;
    let mut reply = recv(socket).await;
    // A session closed just before on this socket may say so twice (to the close, and to the
    // socket that followed it).
    while reply["type"] == "session" && reply["event"] == "closed" {
        reply = recv(socket).await;
    }
    assert_eq!(reply["type"], "session", "{reply}");
    assert_eq!(reply["event"], "created", "{reply}");
    reply["session"].as_str().expect("session id").to_owned()
}

/// Close a session and wait until it says so.
pub async fn close_session(socket: &mut Socket, session: &str) {
    send(
        socket,
        json!({"action": "close_session", "session": session, "id": "x"}),
    )
    .await;
    loop {
        let reply = recv(socket).await;
        if reply["type"] == "session" && reply["event"] == "closed" {
            return;
        }
    }
}

/// Execute `code` in `session` and gather its events until `exit`, with the key's largest
/// wall-clock limit: a JVM REPL's first cell on a cold or busy machine can take longer than the
/// 10 s default, and no test here is about that limit.
pub async fn execute(socket: &mut Socket, session: &str, id: &str, code: &str) -> Vec<Value> {
    send(
        socket,
        json!({"action": "execute", "session": session, "id": id, "code": code, "stream": true,
               "limits": {"wall_ms": 60_000}}),
    )
    .await;
    collect(socket, id).await
}

pub async fn collect(socket: &mut Socket, id: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let message = recv(socket).await;
        if message["type"] == "error" {
            panic!("error during run {id}: {message}");
        }
        if message["id"] != id {
            continue;
        }
        let done = message["type"] == "exit";
        events.push(message);
        if done {
            return events;
        }
    }
}

/// Start a streamed execute `id` of `code` in `session` and wait until it has printed
/// `looping` (so that it runs, and a signal finds it busy).
pub async fn start_looping(socket: &mut Socket, session: &str, id: &str, code: &str) {
    send(
        socket,
        json!({"action": "execute", "session": session, "id": id, "stream": true, "code": code}),
    )
    .await;
    let mut seen = String::new();
    while !seen.contains("looping") {
        let message = recv(socket).await;
        if message["type"] == "stdout" && message["id"] == id {
            seen.push_str(message["data"].as_str().unwrap_or_default());
        }
    }
}

pub fn text(events: &[Value], stream: &str) -> String {
    events
        .iter()
        .filter(|event| event["type"] == stream)
        .map(|event| event["data"].as_str().unwrap_or_default())
        .collect()
}

pub fn exit(events: &[Value]) -> &Value {
    events.last().expect("an exit")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn create_http(server: &Server, key: &str, language: &str) -> String {
    super::create_session_http(server, key, language).await
}
