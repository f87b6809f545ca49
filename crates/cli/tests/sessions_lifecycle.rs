//! A session's lifecycle: a restart forgets the interpreter's state and keeps the files; an
//! idle session expires, and pings keep a followed one alive.

mod common;

use std::time::Duration;

use common::session::{create_http, create_session, execute, http, text};
use common::{connect, recv, send, Server};
use serde_json::json;

#[tokio::test]
async fn restart_forgets_state_and_keeps_files() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    execute(
        &mut socket,
        &session,
        "a",
        "x = 1\nopen('kept.txt', 'w').write('files stay')",
    )
    .await;
    send(
        &mut socket,
        json!({"action": "restart_session", "session": session}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "session" && message["event"] == "restarted" {
            break;
        }
    }
    let events = execute(
        &mut socket,
        &session,
        "b",
        "print(open('kept.txt').read())\nprint(x)",
    )
    .await;
    assert_eq!(text(&events, "stdout"), "files stay\n");
    assert!(text(&events, "stderr").contains("NameError"), "{events:?}");
}

#[tokio::test]
async fn idle_sessions_expire_and_pings_keep_them() {
    let server = Server::start(&["--session-idle-timeout", "1.5"]);
    let idle = create_http(&server, &server.key, "bash").await;
    let mut socket = connect(&server).await;
    let kept = create_session(&mut socket, "bash").await;
    for _ in 0..12 {
        send(&mut socket, json!({"action": "ping"})).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = |id: String| {
        let url = server.http_url(&format!("/api/v1/sessions/{id}"));
        let key = server.key.clone();
        async move {
            http()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("get")
                .status()
        }
    };
    assert_eq!(status(idle).await, 404, "the idle session expired");
    assert_eq!(status(kept).await, 200, "pings kept the session alive");
}
