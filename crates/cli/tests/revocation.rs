//! Revoking a key (`runnel keys revoke`, another process) ends what the key already has open
//! on a running server: its WebSockets (`/ws`, a session's terminal), its sessions, its
//! streamed runs over WebSocket and Server-Sent Events; other keys go on untouched.
#![allow(clippy::disallowed_methods, missing_docs)]

mod common;

use std::process::Command;

use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// The next frame that is a close, or the end of the socket; the text messages before it.
async fn until_closed(socket: &mut Socket) -> (Vec<Value>, Option<u16>) {
    let mut messages = Vec::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the socket closes within the patience window");
        match frame {
            Some(Ok(Message::Text(text))) => {
                messages.push(serde_json::from_str(&text).expect("JSON"));
            }
            Some(Ok(Message::Close(frame))) => {
                return (messages, frame.map(|frame| u16::from(frame.code)))
            }
            None | Some(Err(_)) => return (messages, None),
            Some(Ok(_)) => {}
        }
    }
}

/// (sessions, runs in flight) on the server, every key's.
async fn open_work(server: &Server) -> (u64, u64) {
    let stats = stats(server).await;
    (
        stats["sessions"].as_u64().expect("sessions"),
        stats["running"].as_u64().expect("running"),
    )
}

#[tokio::test]
async fn revoking_a_key_ends_its_sockets_sessions_and_runs() {
    let server = Server::start(&[]);
    // Runs that would outlast the patience window: one left running fails the wait below.
    let key = server.create_key(&["--name", "to-revoke", "--max-wall-ms", "600000"]);
    let long = json!({"wall_ms": 600_000});

    // A socket with a streamed run and a session.
    let mut socket = connect_with_key(&server, &key).await;
    send(
        &mut socket,
        json!({"action":"execute","id":"long","language":"bash","stream":true,
               "code":"echo up; sleep 600","limits":long}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "stdout" {
            break;
        }
    }
    let session = create_session_http(&server, &key, "python").await;
    // The session's terminal.
    let pty_url = format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={key}",
        server.address
    );
    let mut terminal = connect_plain(&pty_url).await;
    // A run streamed as Server-Sent Events.
    let sse = reqwest::Client::new()
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&key)
        .header("Accept", "text/event-stream")
        .json(&json!({"language":"bash","code":"echo up; sleep 600","limits":long}))
        .send()
        .await
        .expect("sse request");
    assert_eq!(sse.status(), 200);
    let mut events = sse.bytes_stream();
    let first = events.next().await.expect("an event").expect("bytes");
    assert!(String::from_utf8_lossy(&first).contains("started"));
    // Another key's socket, which must stay.
    let mut bystander = connect(&server).await;
    assert_eq!(open_work(&server).await, (1, 2));

    let revoked = Command::new(RUNNEL)
        .args(["keys", "revoke", "--data-dir"])
        .arg(server.data_dir.path())
        .arg(&key)
        .output()
        .expect("keys revoke");
    assert!(revoked.status.success(), "{revoked:?}");

    let (messages, code) = until_closed(&mut socket).await;
    assert!(
        messages
            .iter()
            .any(|message| message["type"] == "error" && message["code"] == "unauthorized"),
        "{messages:?}"
    );
    assert_eq!(code, Some(1008), "{messages:?}");

    let (said, code) = until_closed(&mut terminal).await;
    assert!(
        said.iter().any(|message| message["data"]
            .as_str()
            .is_some_and(|data| data.contains("revoked"))),
        "{said:?}"
    );
    assert_eq!(code, Some(1008));

    let mut rest = String::new();
    while let Some(chunk) = events.next().await {
        match chunk {
            Ok(bytes) => rest.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => break,
        }
    }
    assert!(
        rest.contains("event: error") && rest.contains("unauthorized"),
        "the event stream ends with the reason: {rest}"
    );
    assert!(
        !rest.contains("event: exit"),
        "the run did not go on: {rest}"
    );

    // The session and both runs went with the key (the stats count every key's).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while open_work(&server).await != (0, 0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session or a run stayed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A new socket with the key is refused.
    let mut again = connect_plain(&format!("{}?api_key={key}", server.ws_url())).await;
    let (messages, code) = until_closed(&mut again).await;
    assert!(
        messages
            .iter()
            .any(|message| message["code"] == "unauthorized"),
        "{messages:?}"
    );
    assert_eq!(code, Some(1008));

    send(&mut bystander, json!({"action":"ping","t":1})).await;
    assert_eq!(recv(&mut bystander).await["type"], "pong");
}
