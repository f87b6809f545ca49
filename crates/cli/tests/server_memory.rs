//! The server's own memory stays bounded whatever a tenant sends or makes its program do:
//! each flood below runs against the real server and sandbox, and the server process's peak
//! resident memory (`VmHWM`, reset through `/proc/PID/clear_refs` once the server is warm) may
//! grow by at most [`BOUND`] over it. Each flood is several times the bound, and each case also
//! checks the named error or the status that shows the bound held.
#![allow(clippy::disallowed_methods, missing_docs)]

mod common;

use common::{connect, recv, send, Server, Socket, PATIENCE};
use futures_util::StreamExt;
use serde_json::{json, Value};

/// How much the server's peak resident memory may grow during one flood.
const BOUND: u64 = 64 << 20;

fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server status");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|value| value.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// Reset the server's peak resident memory to what it holds now; returns that.
fn reset_peak(server: &Server) -> u64 {
    let pid = server.pid();
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .expect("reset the server's VmHWM (the test runs as the server's user)");
    status_bytes(pid, "VmRSS:")
}

/// How much the server's peak resident memory grew over `base`, checked against [`BOUND`].
fn assert_peak_within_bound(server: &Server, base: u64, flood: &str) {
    let peak = status_bytes(server.pid(), "VmHWM:");
    let grown = peak.saturating_sub(base);
    eprintln!(
        "{flood}: the server's peak memory grew by {} KiB",
        grown >> 10
    );
    assert!(
        grown <= BOUND,
        "{flood}: the server's peak memory grew by {} MiB (bound {} MiB)",
        grown >> 20,
        BOUND >> 20
    );
}

/// A server that has served a run (so that what is allocated once is allocated).
async fn warm_server() -> (Server, Socket) {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let warm = common::run_once(
        &mut socket,
        json!({"action":"execute","id":"warm","language":"python","code":"print(1)"}),
    )
    .await;
    assert_eq!(warm["status"], "ok", "{warm}");
    (server, socket)
}

/// Wait until every message sent on `socket` so far has been handled (a ping's pong comes
/// after them), collecting the other messages meanwhile.
async fn settle(socket: &mut Socket) -> Vec<Value> {
    send(socket, json!({"action":"ping","t":"settle"})).await;
    let mut seen = Vec::new();
    loop {
        let message = recv(socket).await;
        if message["type"] == "pong" && message["t"] == "settle" {
            return seen;
        }
        seen.push(message);
    }
}

fn errors_with_code(messages: &[Value], code: &str) -> usize {
    messages
        .iter()
        .filter(|message| message["type"] == "error" && message["code"] == code)
        .count()
}

#[tokio::test]
async fn listing_and_downloading_a_large_file_never_read_it_whole() {
    let (server, _socket) = warm_server().await;
    let session = common::create_session_http(&server, &server.key, "python").await;
    let made = common::session_execute_http(
        &server,
        &server.key,
        &session,
        "import os\nwith open('big', 'wb') as f:\n    f.truncate(60 << 20)\nprint(os.path.getsize('big'))",
    )
    .await;
    assert_eq!(made["stdout"], format!("{}\n", 60 << 20), "{made}");
    let base = reset_peak(&server);
    let client = reqwest::Client::new();
    let files_url = server.http_url(&format!("/api/v1/sessions/{session}/files"));
    let listings = (0..6).map(|_| async {
        let response = client
            .get(&files_url)
            .bearer_auth(&server.key)
            .timeout(PATIENCE)
            .send()
            .await
            .expect("list");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        let big = body["files"]
            .as_array()
            .expect("files")
            .iter()
            .find(|file| file["name"] == "big")
            .cloned()
            .expect("big is listed");
        assert_eq!(big["size"], 60 << 20);
    });
    let downloads = (0..6).map(|_| async {
        let response = client
            .get(format!("{files_url}/big"))
            .bearer_auth(&server.key)
            .timeout(PATIENCE)
            .send()
            .await
            .expect("download");
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), Some(60 << 20));
        let mut body = response.bytes_stream();
        let mut total = 0_usize;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.expect("body chunk");
            assert!(
                chunk.iter().all(|&byte| byte == 0),
                "a sparse file reads as zeros"
            );
            total += chunk.len();
        }
        assert_eq!(total, 60 << 20);
    });
    tokio::join!(
        futures_util::future::join_all(listings),
        futures_util::future::join_all(downloads)
    );
    assert_peak_within_bound(&server, base, "6 listings and 6 downloads of a 60 MiB file");
}

#[tokio::test]
async fn stdin_a_program_does_not_read_is_refused_past_the_bound() {
    let (server, mut socket) = warm_server().await;
    let sleeper = "import time\ntime.sleep(600)";
    let long = json!({"wall_ms": 60_000});
    send(
        &mut socket,
        json!({"action":"execute","id":"deaf","language":"python","code":sleeper,"stream":true,
               "limits":long}),
    )
    .await;
    let session = common::create_session_http(&server, &server.key, "python").await;
    send(
        &mut socket,
        json!({"action":"execute","id":"cell","session":session,"code":sleeper,"limits":long}),
    )
    .await;
    let base = reset_peak(&server);
    // Just under the 1 MiB frame limit: the frames are accepted, the bytes are not.
    let megabyte = "x".repeat(1_000_000);
    for _ in 0..100 {
        for id in ["deaf", "cell"] {
            send(
                &mut socket,
                json!({"action":"stdin","id":id,"data":megabyte}),
            )
            .await;
        }
    }
    let answers = settle(&mut socket).await;
    assert_peak_within_bound(&server, base, "200 MiB of stdin nobody reads");
    for id in ["deaf", "cell"] {
        let refused = answers
            .iter()
            .filter(|message| {
                message["type"] == "error"
                    && message["code"] == "payload_too_large"
                    && message["id"] == id
            })
            .count();
        // The first megabyte waits for the program; with each later one over 1 MiB would.
        assert_eq!(refused, 99, "run {id}: {answers:?}");
    }
}

#[tokio::test]
async fn a_cell_writing_its_event_pipe_without_newlines_costs_little() {
    let (server, _socket) = warm_server().await;
    let session = common::create_session_http(&server, &server.key, "python").await;
    let base = reset_peak(&server);
    // 200 MiB on the driver's event pipe (fd 4) in one line, then the line's end.
    let flood = "import os\nblock = b'x' * (1 << 20)\nfor _ in range(200):\n    os.write(4, block)\nos.write(4, b'\\n')\nprint('after')";
    let result = common::session_execute_http(&server, &server.key, &session, flood).await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["stdout"], "after\n", "{result}");
    assert_peak_within_bound(&server, base, "a 200 MiB line on the event pipe");
}

#[tokio::test]
async fn queued_session_executes_are_bounded() {
    let (server, mut socket) = warm_server().await;
    let session = common::create_session_http(&server, &server.key, "python").await;
    send(
        &mut socket,
        json!({"action":"execute","id":"busy","session":session,"code":"import time\ntime.sleep(600)",
               "limits":{"wall_ms": 60_000}}),
    )
    .await;
    let base = reset_peak(&server);
    // 100 executes of 0.9 MB each behind a cell that never ends.
    let padding = format!("# {}\nprint(1)", "p".repeat(900_000));
    for number in 0..100 {
        send(
            &mut socket,
            json!({"action":"execute","id":format!("q{number}"),"session":session,"code":padding}),
        )
        .await;
    }
    let answers = settle(&mut socket).await;
    assert_peak_within_bound(&server, base, "100 queued executes of 0.9 MB");
    let refused = errors_with_code(&answers, "concurrency_limit");
    // 8 MiB of queued executes at most: 9 of 0.9 MB fit behind the running one.
    assert_eq!(refused, 91, "{answers:?}");
}

/// A WebSocket whose receive buffer is small and fixed, so the kernel holds little of what the
/// server sends a client that does not read.
async fn connect_small_window(server: &Server) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(16 << 10).expect("SO_RCVBUF");
    let stream = tcp.connect(server.address).await.expect("connect");
    let mut request = server.ws_url().into_client_request().expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", server.key).parse().expect("header"),
    );
    let (socket, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket connects");
    socket
}

#[tokio::test]
async fn clients_that_do_not_read_cost_a_bounded_ring_not_their_output() {
    let (server, _socket) = warm_server().await;
    let base = reset_peak(&server);
    // Endless output at the key's 16 MiB maximum, to clients that do not read it: each run
    // waits on its full pipe until its wall-clock limit, instead of the server holding it all.
    let flood = "import sys\nline = 'y' * 1023 + '\\n'\nwhile True:\n    sys.stdout.write(line)";
    let mut sockets = Vec::new();
    for number in 0..8 {
        let mut socket = connect_small_window(&server).await;
        send(
            &mut socket,
            json!({"action":"execute","id":format!("r{number}"),"language":"python","code":flood,
                   "stream":true,"limits":{"wall_ms":5000,"output_bytes":16 << 20}}),
        )
        .await;
        let started = recv(&mut socket).await;
        assert_eq!(started["type"], "started", "{started}");
        sockets.push(socket);
    }
    // The runs end on their wall-clock limit while nobody reads.
    let deadline = tokio::time::Instant::now() + PATIENCE * 2;
    while common::stats(&server).await["running"] != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the runs did not end"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_peak_within_bound(&server, base, "8 clients not reading 16 MiB each");
    for (number, socket) in sockets.iter_mut().enumerate() {
        let id = format!("r{number}");
        let messages = common::collect_run(socket, &id).await;
        let exit = messages.last().expect("an exit");
        assert_eq!(exit["type"], "exit", "{exit}");
        assert_eq!(
            exit["status"], "timeout",
            "run {id} was held back, not cut: {exit}"
        );
        let text = common::stream_text(&messages, "stdout");
        assert!(text.len() < 16 << 20, "run {id} wrote {} bytes", text.len());
        // Exactly once and in order, up to where the program was stopped.
        assert!(text.bytes().all(|byte| byte == b'y' || byte == b'\n'));
    }
}
