//! The front door against a real server: half-sent requests are timed out, connections are
//! capped for the server, per address while unauthenticated and per key once authenticated,
//! the open files limit is raised at start-up, and the server-wide figures need an operator
//! key (or the separate metrics address).

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A TCP connection to the server from `source` (any 127.0.0.0/8 address is this host).
async fn connect_from(server: &Server, source: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind the source address");
    socket.connect(server.address).await.expect("connect")
}

/// One HTTP response read off `stream`: status code, head, body. `None` when the server
/// closed the connection without answering.
async fn read_response(stream: &mut TcpStream) -> Option<(u16, String, String)> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the server answers or closes in time")
            .unwrap_or(0);
        if read == 0 {
            assert!(received.is_empty(), "a partial response: {received:?}");
            return None;
        }
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = received[head_end + 4..].to_vec();
    while body.len() < length {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the body in time")
            .expect("read the body");
        assert!(read > 0, "the body ended early");
        body.extend_from_slice(&buffer[..read]);
    }
    Some((status, head, String::from_utf8_lossy(&body).into_owned()))
}

/// Wait until the server closes `stream`, draining what it sends.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buffer = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the server closes the connection in time");
        if matches!(read, Ok(0) | Err(_)) {
            return;
        }
    }
}

/// `GET path` on `stream`, written at once (before the server reads), with an optional key.
async fn get(stream: &mut TcpStream, path: &str, key: Option<&str>) -> Option<(u16, String)> {
    let auth = key.map_or_else(String::new, |key| {
        format!("authorization: Bearer {key}\r\n")
    });
    let request = format!("GET {path} HTTP/1.1\r\nhost: runnel\r\n{auth}\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    read_response(stream)
        .await
        .map(|(status, _, body)| (status, body))
}

fn error_code(body: &str) -> String {
    let error: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"));
    error["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed_by_the_timeouts() {
    let server = Server::start(&["--header-timeout", "2", "--body-timeout", "2"]);

    // Headers that never end.
    let mut stalled = connect_from(&server, Ipv4Addr::LOCALHOST).await;
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: runnel\r\nx-slow: ")
        .await
        .expect("write");
    closed_by_server(&mut stalled).await;

    // A keep-alive connection is answered, then closed once idle.
    let mut idle = connect_from(&server, Ipv4Addr::LOCALHOST).await;
    assert_eq!(
        get(&mut idle, "/healthz", None)
            .await
            .map(|(status, _)| status),
        Some(200)
    );
    closed_by_server(&mut idle).await;

    // A body that never ends: answered with a named error, not held open.
    let mut trickle = connect_from(&server, Ipv4Addr::LOCALHOST).await;
    let head = format!(
        "POST /api/v1/execute HTTP/1.1\r\nhost: runnel\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"language\":",
        server.key
    );
    trickle.write_all(head.as_bytes()).await.expect("write");
    let (status, _, body) = read_response(&mut trickle)
        .await
        .expect("an answer to the stalled body");
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), "bad_request", "{body}");
    assert!(body.contains("did not arrive within 2 s"), "{body}");

    // None of it stopped the server from serving.
    let result = execute_http(
        &server,
        &server.key,
        json!({"language": "bash", "code": "echo still-serving"}),
    )
    .await;
    assert_eq!(result["stdout"], "still-serving\n", "{result}");
}

#[tokio::test]
async fn an_address_over_its_cap_of_unauthenticated_connections_is_refused_by_name() {
    let server = Server::start(&[
        "--max-connections-per-address",
        "3",
        "--header-timeout",
        "600",
    ]);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from(&server, Ipv4Addr::LOCALHOST).await);
    }
    // Connections are admitted in the order they arrive: the fourth is over the cap.
    let mut refused = connect_from(&server, Ipv4Addr::LOCALHOST).await;
    let (status, head, body) = read_response(&mut refused)
        .await
        .expect("a refusal, not a bare close");
    assert_eq!(status, 429, "{head}\n{body}");
    assert_eq!(error_code(&body), "rate_limited", "{body}");
    assert!(body.contains("not authenticated"), "{body}");
    closed_by_server(&mut refused).await;

    // Another address is served.
    let mut other = connect_from(&server, Ipv4Addr::new(127, 0, 0, 2)).await;
    assert_eq!(
        get(&mut other, "/healthz", None)
            .await
            .map(|(status, _)| status),
        Some(200)
    );

    // A held connection that authenticates no longer counts against its address.
    let (status, body) = get(&mut held[0], "/api/v1/sessions", Some(&server.key))
        .await
        .expect("an answer");
    assert_eq!(status, 200, "{body}");
    let mut admitted = connect_from(&server, Ipv4Addr::LOCALHOST).await;
    assert_eq!(
        get(&mut admitted, "/healthz", None)
            .await
            .map(|(status, _)| status),
        Some(200)
    );

    // From another address: this one's cap is full again.
    let metrics = reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)))
        .build()
        .expect("client")
        .get(server.http_url("/metrics"))
        .bearer_auth(&server.operator_key)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("runnel_connections_refused_total{reason=\"address\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_server_cap_refuses_with_unavailable_and_frees_a_place_on_close() {
    let server = Server::start(&["--max-connections", "3", "--header-timeout", "600"]);
    let mut held = Vec::new();
    for last in 1..=3 {
        held.push(connect_from(&server, Ipv4Addr::new(127, 0, 1, last)).await);
    }
    let mut refused = connect_from(&server, Ipv4Addr::new(127, 0, 1, 4)).await;
    let (status, _, body) = read_response(&mut refused).await.expect("a refusal");
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "unavailable", "{body}");

    drop(held.pop());
    // The server notices the close on its own time: try until a place is free.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut next = connect_from(&server, Ipv4Addr::new(127, 0, 1, 5)).await;
        match get(&mut next, "/healthz", None).await {
            Some((200, _)) => break,
            Some((503, _)) | None => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no place freed after a close"
                );
                tokio::task::yield_now().await;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
}

/// Whether a new WebSocket with `key` is served (`pong`) or refused (`concurrency_limit`).
async fn socket_served(server: &Server, key: &str) -> (bool, Socket) {
    let mut socket = connect_with_key(server, key).await;
    send(&mut socket, json!({"action": "ping", "t": 1})).await;
    let reply = recv(&mut socket).await;
    match reply["type"].as_str() {
        Some("pong") => (true, socket),
        Some("error") => {
            assert_eq!(reply["code"], "concurrency_limit", "{reply}");
            (false, socket)
        }
        _ => panic!("unexpected reply {reply}"),
    }
}

#[tokio::test]
async fn a_key_is_charged_for_its_open_connections() {
    let server = Server::start(&[]);
    let key = server.create_key(&["--max-connections", "2"]);
    let (served, first) = socket_served(&server, &key).await;
    assert!(served);
    let (served, _second) = socket_served(&server, &key).await;
    assert!(served);
    let (served, mut third) = socket_served(&server, &key).await;
    assert!(!served, "a third connection of a key allowed two");
    let closed = tokio::time::timeout(PATIENCE, futures_util::StreamExt::next(&mut third))
        .await
        .expect("closed in time");
    match closed {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1013, "{frame:?}");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // HTTP connections count too.
    let mut http = connect_from(&server, Ipv4Addr::LOCALHOST).await;
    let (status, body) = get(&mut http, "/api/v1/sessions", Some(&key))
        .await
        .expect("an answer");
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "concurrency_limit", "{body}");
    // Other keys are not affected.
    let (served, _other) = socket_served(&server, &server.key).await;
    assert!(served);

    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (served, _socket) = socket_served(&server, &key).await;
        if served {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no place freed for the key after a close"
        );
    }
}

#[tokio::test]
async fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    let server = Server::start_under(Some("ulimit -Sn 256 && ulimit -Hn 8192"), &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid()))
        .expect("read the server's limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("a Max open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3..5], ["8192", "8192"], "{line}");
    let result = execute_http(
        &server,
        &server.key,
        json!({"language": "bash", "code": "echo ok"}),
    )
    .await;
    assert_eq!(result["stdout"], "ok\n", "{result}");
}

#[tokio::test]
async fn server_wide_figures_need_an_operator_key_or_the_metrics_address() {
    let server = Server::start(&["--metrics-listen", "127.0.0.1:0"]);
    let client = reqwest::Client::new();
    for path in ["/api/v1/stats", "/metrics"] {
        let anonymous = client
            .get(server.http_url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(anonymous.status(), 401, "{path}");
        let tenant = client
            .get(server.http_url(path))
            .bearer_auth(&server.key)
            .send()
            .await
            .expect("request");
        assert_eq!(tenant.status(), 403, "{path}");
        let body = tenant.text().await.expect("body");
        assert_eq!(error_code(&body), "forbidden", "{body}");
        assert!(body.contains("operator key"), "{body}");
        let operator = client
            .get(server.http_url(path))
            .bearer_auth(&server.operator_key)
            .send()
            .await
            .expect("request");
        assert_eq!(operator.status(), 200, "{path}");
    }
    let health = client
        .get(server.http_url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), 200);

    let metrics_address = server.metrics_address.expect("the metrics address printed");
    let metrics = client
        .get(format!("http://{metrics_address}/metrics"))
        .send()
        .await
        .expect("request");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("runnel_tcp_connections"), "{text}");
    // Only the figures are there: nothing runs through the metrics address.
    let execute = client
        .post(format!("http://{metrics_address}/api/v1/execute"))
        .bearer_auth(&server.key)
        .json(&json!({"language": "bash", "code": "echo no"}))
        .send()
        .await
        .expect("request");
    assert_eq!(execute.status(), 404);
}
