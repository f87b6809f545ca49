//! Graceful shutdown (issue 11, item 2): SIGTERM stops new work, lets runs in flight finish
//! within `--shutdown-grace`, gives every client its last events and a 1001 close; past the
//! grace, or on a second signal, what still runs is stopped and still gets its `exit`.

mod common;

use common::{connect, recv, recv_until_close, send, Server, Socket};
use serde_json::{json, Value};

/// Starts a streamed Python run that prints `started`, then waits for a line of stdin (or
/// sleeps, if `wait_for_stdin` is false) and prints `done`; returns once `started` arrived.
async fn start_run(socket: &mut Socket, id: &str, wait_for_stdin: bool) {
    let code = if wait_for_stdin {
        "print('started', flush=True)\nline = input()\nprint('done', line)"
    } else {
        "import time\nprint('started', flush=True)\ntime.sleep(600)\nprint('done')"
    };
    send(
        socket,
        json!({"action": "execute", "id": id, "language": "python", "stream": true,
               "code": code, "limits": {"wall_ms": 600000, "cpu_ms": 60000}}),
    )
    .await;
    loop {
        let message = recv(socket).await;
        if message["id"] == id && message["type"] == "stdout" {
            assert!(
                message["data"]
                    .as_str()
                    .is_some_and(|data| data.starts_with("started")),
                "{message}"
            );
            return;
        }
    }
}

/// Sends trivial executes until one is refused because the server is stopping (those sent
/// before the signal landed run normally); the refusal.
async fn wait_until_refused(socket: &mut Socket) -> Value {
    for attempt in 0.. {
        let id = format!("probe-{attempt}");
        send(
            socket,
            json!({"action": "execute", "id": id, "language": "python", "code": "print(1)"}),
        )
        .await;
        loop {
            let message = recv(socket).await;
            if message["id"] != id.as_str() {
                continue;
            }
            match message["type"].as_str() {
                Some("error") => return message,
                Some("result") => break,
                _ => {}
            }
        }
    }
    unreachable!()
}

fn exit_of<'a>(messages: &'a [Value], id: &str) -> &'a Value {
    messages
        .iter()
        .find(|message| message["id"] == id && message["type"] == "exit")
        .unwrap_or_else(|| panic!("no exit for {id} among {messages:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_runs_in_flight_finish_and_closes_every_socket_with_1001() {
    let server = Server::start(&["--shutdown-grace", "600"]);
    let mut runner = connect(&server).await;
    start_run(&mut runner, "inflight", true).await;
    let session = common::create_session_http(&server, &server.key, "python").await;
    let mut follower = common::follow_session(&server, &session).await;
    let mut idle = connect(&server).await;
    let mut terminal = common::connect_plain(&format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={}",
        server.address, server.key
    ))
    .await;

    server.terminate();
    let refused = wait_until_refused(&mut idle).await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|message| message.contains("shutting down")),
        "{refused}"
    );
    // No new connection is accepted while draining.
    assert!(
        tokio::net::TcpStream::connect(server.address)
            .await
            .is_err(),
        "the server still accepts connections while it drains"
    );

    // The run in flight finishes normally, then its socket closes with 1001.
    send(
        &mut runner,
        json!({"action": "stdin", "id": "inflight", "data": "now\n"}),
    )
    .await;
    let (messages, close) = recv_until_close(&mut runner).await;
    let exit = exit_of(&messages, "inflight");
    assert_eq!(exit["status"], "ok", "{exit}");
    assert_eq!(exit["exit_code"], 0, "{exit}");
    let stdout: String = messages
        .iter()
        .filter(|m| m["id"] == "inflight" && m["type"] == "stdout")
        .filter_map(|m| m["data"].as_str())
        .collect();
    // (The newline after `started` may come in a chunk of its own.)
    assert_eq!(stdout.trim_start_matches('\n'), "done now\n");
    assert_eq!(close, Some(1001), "the run's socket: {messages:?}");

    // The session's follower hears that it ended, then gets 1001 too; so does the idle socket.
    let (messages, close) = recv_until_close(&mut follower).await;
    assert!(
        messages
            .iter()
            .any(|m| m["type"] == "session" && m["event"] == "shutdown"),
        "{messages:?}"
    );
    assert_eq!(close, Some(1001), "the follower: {messages:?}");
    let (messages, close) = recv_until_close(&mut idle).await;
    assert_eq!(close, Some(1001), "the idle socket: {messages:?}");
    let (messages, close) = recv_until_close(&mut terminal).await;
    assert_eq!(close, Some(1001), "the terminal: {messages:?}");

    let status = server.wait_for_exit();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_still_going_after_the_grace_is_stopped_and_still_gets_its_exit() {
    let server = Server::start(&["--shutdown-grace", "1"]);
    let mut runner = connect(&server).await;
    start_run(&mut runner, "sleeper", false).await;
    server.terminate();
    let (messages, close) = recv_until_close(&mut runner).await;
    let exit = exit_of(&messages, "sleeper");
    assert_eq!(exit["status"], "internal_error", "{exit}");
    assert!(
        exit["message"]
            .as_str()
            .is_some_and(|message| message.contains("shut down")),
        "{exit}"
    );
    assert!(
        !messages.iter().any(|m| m["id"] == "sleeper"
            && m["data"].as_str().is_some_and(|data| data.contains("done"))),
        "{messages:?}"
    );
    assert_eq!(close, Some(1001), "{messages:?}");
    assert!(server.wait_for_exit().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once() {
    // A grace far longer than the test's patience: only the second signal can end it in time.
    let server = Server::start(&["--shutdown-grace", "3600"]);
    let mut runner = connect(&server).await;
    start_run(&mut runner, "sleeper", false).await;
    let mut idle = connect(&server).await;
    server.terminate();
    let refused = wait_until_refused(&mut idle).await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    server.terminate();
    let (messages, close) = recv_until_close(&mut runner).await;
    let exit = exit_of(&messages, "sleeper");
    assert_eq!(exit["status"], "internal_error", "{exit}");
    assert_eq!(close, Some(1001), "{messages:?}");
    assert!(server.wait_for_exit().success());
}
