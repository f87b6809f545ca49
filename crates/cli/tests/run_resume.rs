//! Reconnecting without loss, for one-shot runs: a `stream: true` run outlives its dropped
//! socket for the run grace period and `resume` with its id replays what was missed;
//! `stdin_seq` makes re-sent stdin apply once; sessions report their `stdin_seq` on resume.
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Messages of run `id` until its `exit`, checking that `seq` goes up by one from `next_seq`.
async fn follow_to_exit(socket: &mut Socket, id: &str, mut next_seq: u64) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let message = recv(socket).await;
        assert_eq!(message["id"], id, "{message}");
        assert_eq!(message["seq"].as_u64(), Some(next_seq), "{message}");
        next_seq += 1;
        let done = message["type"] == "exit";
        messages.push(message);
        if done {
            return messages;
        }
    }
}

#[tokio::test]
async fn a_streamed_run_resumed_after_cuts_delivers_every_line_once_in_order() {
    const LINES: usize = 300;
    let server = Server::start(&[]);
    let id = "run-7f1c2a";
    let code = format!(
        "import time\nfor i in range({LINES}):\n    print(f'line {{i}}', flush=True)\n    time.sleep(0.004)"
    );
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": id, "language": "python", "code": code, "stream": true}),
    )
    .await;
    let mut stdout = String::new();
    let mut last_seq = 0;
    // Cut three times, each after some more lines; the last resume follows to the end.
    for cut in 1..=3 {
        while stdout.lines().count() < cut * 40 {
            let message = recv(&mut socket).await;
            assert_eq!(message["seq"].as_u64(), Some(last_seq + 1), "{message}");
            last_seq += 1;
            if message["type"] == "stdout" {
                stdout.push_str(message["data"].as_str().expect("data"));
            }
        }
        // No close handshake: the TCP connection just goes.
        drop(socket);
        tokio::time::sleep(Duration::from_millis(150)).await;
        socket = connect(&server).await;
        send(
            &mut socket,
            json!({"action": "resume", "id": id, "last_seq": last_seq}),
        )
        .await;
        let resumed = recv(&mut socket).await;
        assert_eq!(resumed["type"], "resumed", "{resumed}");
        assert_eq!(resumed["id"], id);
        assert!(
            resumed["seq"].as_u64().expect("seq") >= last_seq,
            "{resumed}"
        );
        assert_eq!(resumed["stdin_seq"], 0);
    }
    let rest = follow_to_exit(&mut socket, id, last_seq + 1).await;
    stdout.push_str(&stream_text(&rest, "stdout"));
    let exit = rest.last().expect("exit");
    assert_eq!(exit["status"], "ok", "{exit}");
    let expected: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);

    // A finished run stays resumable for a while: its whole log from the start.
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "id": id, "last_seq": 0}),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "resumed");
    let replay = follow_to_exit(&mut socket, id, 1).await;
    assert_eq!(
        stream_text(&replay, "stdout").lines().count(),
        LINES,
        "a replay from 0 has every line"
    );
}

#[tokio::test]
async fn stdin_numbers_apply_each_write_once_across_a_reconnect() {
    let server = Server::start(&[]);
    let id = "echo-3b9d";
    let code = "import sys\nfor line in sys.stdin:\n    print('got', line.strip(), flush=True)";
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": id, "language": "python", "code": code, "stream": true}),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "started");
    send(
        &mut socket,
        json!({"action": "stdin", "id": id, "data": "a\n", "stdin_seq": 1}),
    )
    .await;
    // Output may come in several chunks: read up to the echo, counting events.
    let mut echoed = String::new();
    let mut last_seq = 1;
    while echoed != "got a\n" {
        let message = recv(&mut socket).await;
        assert_eq!(message["type"], "stdout", "{message}");
        echoed.push_str(message["data"].as_str().expect("data"));
        last_seq = message["seq"].as_u64().expect("seq");
        assert!(echoed.len() <= 6, "{echoed:?}");
    }
    // The client is unsure whether write 2 arrived before its connection broke.
    send(
        &mut socket,
        json!({"action": "stdin", "id": id, "data": "b\n", "stdin_seq": 2}),
    )
    .await;
    drop(socket);
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "id": id, "last_seq": last_seq}),
    )
    .await;
    let resumed = recv(&mut socket).await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    let applied = resumed["stdin_seq"].as_u64().expect("stdin_seq");
    assert!(applied <= 2, "{resumed}");
    // Re-send everything numbered above what was applied, and one more write twice.
    if applied < 2 {
        send(
            &mut socket,
            json!({"action": "stdin", "id": id, "data": "b\n", "stdin_seq": 2}),
        )
        .await;
    }
    for _ in 0..2 {
        send(
            &mut socket,
            json!({"action": "stdin", "id": id, "data": "c\n", "stdin_seq": 3}),
        )
        .await;
    }
    send(
        &mut socket,
        json!({"action": "stdin", "id": id, "data": "", "eof": true, "stdin_seq": 4}),
    )
    .await;
    let rest = follow_to_exit(&mut socket, id, last_seq + 1).await;
    assert_eq!(stream_text(&rest, "stdout"), "got b\ngot c\n");
    assert_eq!(rest.last().expect("exit")["status"], "ok");
}

#[tokio::test]
async fn a_run_nobody_resumes_is_killed_after_the_grace_period() {
    let server = Server::start(&["--run-grace", "0.5"]);
    let id = "orphan-5e21";
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": id, "language": "bash", "code": "echo up; sleep 60", "stream": true}),
    )
    .await;
    assert_eq!(recv(&mut socket).await["type"], "started");
    drop(socket);
    // The run is killed within the grace period (plus slack), and then cannot be resumed.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while common::stats(&server).await["running"] != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run outlived its grace period"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "id": id, "last_seq": 0}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("not_found")),
        "{reply}"
    );
    // Another key never sees a run of this key.
    let other = server.create_key(&[]);
    let mut socket = connect_with_key(&server, &other).await;
    send(
        &mut socket,
        json!({"action": "resume", "id": id, "last_seq": 0}),
    )
    .await;
    assert_eq!(recv(&mut socket).await["code"], "not_found");
}

#[tokio::test]
async fn a_run_id_in_flight_cannot_be_taken_by_another_socket() {
    let server = Server::start(&[]);
    let request = json!({"action": "execute", "id": "same", "language": "bash", "code": "sleep 2", "stream": true});
    let mut first = connect(&server).await;
    send(&mut first, request.clone()).await;
    assert_eq!(recv(&mut first).await["type"], "started");
    let mut second = connect(&server).await;
    send(&mut second, request).await;
    let reply = recv(&mut second).await;
    assert_eq!(reply["code"], "conflict", "{reply}");
}

#[tokio::test]
async fn a_session_resume_reports_the_stdin_numbers_applied() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "create_session", "language": "python", "id": "c"}),
    )
    .await;
    let created = recv(&mut socket).await;
    let session = created["session"].as_str().expect("session id").to_owned();
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "ask", "code": "print(input('? '))", "stream": true}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "input_request" {
            break;
        }
    }
    for _ in 0..2 {
        send(
            &mut socket,
            json!({"action": "stdin", "id": session, "data": "once\n", "stdin_seq": 1}),
        )
        .await;
    }
    let messages = collect_run(&mut socket, "ask").await;
    assert_eq!(stream_text(&messages, "stdout"), "once\n");
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "session": session, "last_seq": 0}),
    )
    .await;
    let resumed = recv(&mut socket).await;
    assert_eq!(
        (resumed["event"].as_str(), resumed["stdin_seq"].as_u64()),
        (Some("resumed"), Some(1)),
        "{resumed}"
    );
}

#[tokio::test]
async fn a_session_execute_sent_twice_runs_once() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "create_session", "language": "python", "id": "c"}),
    )
    .await;
    let session = recv(&mut socket).await["session"]
        .as_str()
        .expect("session id")
        .to_owned();
    let execute = json!({"action": "execute", "session": session, "id": "once",
                         "code": "import time\nprint('ran', flush=True)\ntime.sleep(1)", "stream": true});
    send(&mut socket, execute.clone()).await;
    // A client unsure whether its execute arrived sends it again: it is refused, not re-run.
    send(&mut socket, execute).await;
    let mut ran = 0;
    let mut conflicts = 0;
    loop {
        let message = recv(&mut socket).await;
        match message["type"].as_str() {
            Some("stdout") => {
                ran += message["data"]
                    .as_str()
                    .expect("data")
                    .matches("ran")
                    .count()
            }
            Some("error") => {
                assert_eq!(
                    (message["code"].as_str(), message["id"].as_str()),
                    (Some("conflict"), Some("once")),
                    "{message}"
                );
                conflicts += 1;
            }
            Some("exit") => break,
            _ => {}
        }
    }
    assert_eq!((ran, conflicts), (1, 1));
    // Errors of session actions name the session they are about.
    send(
        &mut socket,
        json!({"action": "restart_session", "session": "ses-unknown"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(
        (reply["code"].as_str(), reply["id"].as_str()),
        (Some("not_found"), Some("ses-unknown")),
        "{reply}"
    );
}
