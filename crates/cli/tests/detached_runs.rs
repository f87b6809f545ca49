//! Streamed runs waiting for a resume never keep their key's new work out (issue 11, item
//! 6): when the key is at its concurrency limit, the run detached the longest is stopped and
//! its slot goes to the new run; its `exit` (`killed`) stays in its log for a late resume.

mod common;

use std::time::Duration;

use common::{connect_with_key, recv, send, Server, Socket, PATIENCE};
use serde_json::{json, Value};

async fn start_sleeper(socket: &mut Socket, id: &str) {
    send(
        socket,
        json!({"action": "execute", "id": id, "language": "python", "stream": true,
               "code": "import time\nprint('up', flush=True)\ntime.sleep(600)",
               "limits": {"wall_ms": 600000}}),
    )
    .await;
    loop {
        let message = recv(socket).await;
        if message["id"] == id && message["type"] == "stdout" {
            return;
        }
        assert_ne!(message["type"], "error", "{message}");
    }
}

/// Resumes run `id` from the start; every event kept, up to the newest at the resume.
async fn replay(socket: &mut Socket, id: &str) -> Vec<Value> {
    send(socket, json!({"action": "resume", "id": id, "last_seq": 0})).await;
    let resumed = recv(socket).await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    let newest = resumed["seq"].as_u64().expect("seq");
    let mut events = Vec::new();
    while events.len() < usize::try_from(newest).expect("seq fits") {
        let message = recv(socket).await;
        if message["id"] == id {
            events.push(message);
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waiting_for_a_resume_gives_its_slot_to_its_keys_new_work() {
    // A grace far past the test's patience: only eviction can free the slots in time.
    let server = Server::start(&["--run-grace", "3600"]);
    let key = server.create_key(&["--max-concurrency", "2", "--max-wall-ms", "600000"]);
    let mut first = connect_with_key(&server, &key).await;
    start_sleeper(&mut first, "sleeper-a").await;
    start_sleeper(&mut first, "sleeper-b").await;
    // The client vanishes: both runs wait for a resume, holding the key's two slots.
    drop(first);

    let mut second = connect_with_key(&server, &key).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let id = format!("new-{attempt}");
        send(
            &mut second,
            json!({"action": "execute", "id": id, "language": "python", "code": "print(6 * 7)"}),
        )
        .await;
        let answer = loop {
            let message = recv(&mut second).await;
            if message["id"] == id.as_str() {
                break message;
            }
        };
        if answer["type"] == "result" {
            break answer;
        }
        // Until the server has seen the first socket go, its runs are attached: refused.
        assert_eq!(answer["code"], "concurrency_limit", "{answer}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the key's new run was refused for {PATIENCE:?}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["stdout"], "42\n", "{result}");

    // Exactly one detached run gave up its slot: it ended `killed`, and says so on resume.
    let mut exits = Vec::new();
    for id in ["sleeper-a", "sleeper-b"] {
        let events = replay(&mut second, id).await;
        exits.extend(events.into_iter().filter(|event| event["type"] == "exit"));
    }
    // The evicted run's exit may still be on its way: wait for it on the resumed socket.
    while exits.is_empty() {
        let message = recv(&mut second).await;
        if message["type"] == "exit" {
            exits.push(message);
        }
    }
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(exits[0]["status"], "killed", "{exits:?}");
}
