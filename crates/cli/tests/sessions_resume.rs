//! Resuming a session after a dropped connection: every event after `last_seq` once and in
//! order, and a named error (`resume_gap`) past what the replay buffer keeps.

mod common;

use std::time::Duration;

use common::session::create_session;
use common::{connect, recv, send, Server};
use serde_json::json;

#[tokio::test]
async fn resume_after_a_cut_connection_delivers_every_line_once_in_order() {
    const LINES: usize = 400;
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    let code = format!(
        "import time\nfor i in range({LINES}):\n    print(f'line {{i}}', flush=True)\n    time.sleep(0.003)"
    );
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "n", "code": code, "stream": true}),
    )
    .await;
    let mut stdout = String::new();
    let mut last_seq = 0;
    while stdout.lines().count() < 40 {
        let message = recv(&mut socket).await;
        last_seq = message["seq"].as_u64().unwrap_or(last_seq);
        if message["type"] == "stdout" {
            stdout.push_str(message["data"].as_str().expect("data"));
        }
    }
    // Cut the connection mid-run, without a close handshake.
    drop(socket);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "session": session, "last_seq": last_seq}),
    )
    .await;
    let resumed = recv(&mut socket).await;
    assert_eq!(
        (resumed["type"].as_str(), resumed["event"].as_str()),
        (Some("session"), Some("resumed")),
        "{resumed}"
    );
    let mut expected_seq = last_seq + 1;
    loop {
        let message = recv(&mut socket).await;
        assert_eq!(message["seq"].as_u64(), Some(expected_seq), "{message}");
        expected_seq += 1;
        if message["type"] == "stdout" {
            stdout.push_str(message["data"].as_str().expect("data"));
        }
        if message["type"] == "exit" {
            assert_eq!(message["status"], "ok");
            break;
        }
    }
    let expected: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn resume_past_the_replay_buffer_is_a_named_error() {
    let server = Server::start(&["--session-log-bytes", "4096"]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    let code = "import time\ntime.sleep(0.5)\nfor i in range(2000):\n    print('x' * 50)";
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "big", "code": code}),
    )
    .await;
    // Nobody follows the session while it prints far more than the buffer keeps.
    drop(socket);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "session": session, "last_seq": 1}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["code"], "resume_gap", "{reply}");
}
