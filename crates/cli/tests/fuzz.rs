//! A fuzz stage (issue 11): thousands of malformed WebSocket frames and hundreds of malformed
//! HTTP requests, generated from valid ones by a seeded generator (the seed is printed; set
//! `RUNNEL_FUZZ_SEED` to replay one). The server must answer each with a named error (never
//! `internal_error`, never a 5xx), never crash or hang, and serve a normal run afterwards.
#![allow(clippy::disallowed_methods, missing_docs)]

mod common;

use std::time::Duration;

use common::{connect, execute_http, Server, Socket, PATIENCE};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const FRAMES: usize = 4000;
const REQUESTS: usize = 400;

/// xorshift64*: small, seeded, enough to make garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn seed() -> u64 {
    let seed = std::env::var("RUNNEL_FUZZ_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    eprintln!("fuzz seed: {seed} (RUNNEL_FUZZ_SEED={seed} replays it)");
    seed
}

/// Valid messages to start from. Nothing here runs for long.
fn seeds() -> Vec<Value> {
    vec![
        json!({"action": "ping", "t": 1}),
        json!({"action": "execute", "id": "f", "language": "python", "code": "print(1)"}),
        json!({"action": "execute", "language": "bash", "code": "echo hi", "stream": true,
               "limits": {"wall_ms": 2000, "memory_mb": 64, "pids": 8, "output_bytes": 4096}}),
        json!({"action": "stdin", "id": "nope", "data": "x\n", "eof": true}),
        json!({"action": "signal", "id": "nope", "signal": "SIGINT"}),
        json!({"action": "resume", "id": "nope", "last_seq": 3}),
        json!({"action": "resume", "session": "ses-nope", "last_seq": 0}),
        json!({"action": "close_session", "session": "ses-nope"}),
        json!({"action": "restart_session", "session": "ses-nope"}),
        json!({"action": "auth", "api_key": "rk_wrong"}),
        json!({"action": "execute", "language": "c", "files": [{"name": "main.c", "content": "aW50IG1haW4oKXt9", "encoding": "base64"}]}),
    ]
}

/// Odd values to put anywhere.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1e308),
        4 => json!(-0.5),
        5 => json!(""),
        6 => json!("\u{0}\u{ffff}\u{202e}"),
        7 => json!([]),
        8 => json!({}),
        9 => json!([1, [2, [3]]]),
        10 => json!(true),
        11 => json!("x".repeat(rng.below(5000))),
        12 => json!({"wall_ms": "10", "pids": [1]}),
        _ => json!(i64::MIN),
    }
}

fn mutate_value(rng: &mut Rng, value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        *value = odd_value(rng);
        return;
    };
    let keys: Vec<String> = object.keys().cloned().collect();
    match rng.below(5) {
        0 if !keys.is_empty() => {
            let key = rng.pick(&keys).clone();
            object.remove(&key);
        }
        1 if !keys.is_empty() => {
            let key = rng.pick(&keys).clone();
            object.insert(key, odd_value(rng));
        }
        2 => {
            let name = rng
                .pick(&[
                    "action",
                    "id",
                    "limits",
                    "files",
                    "code",
                    "extra",
                    "stdin_seq",
                    "encoding",
                ])
                .to_string();
            object.insert(name, odd_value(rng));
        }
        3 if !keys.is_empty() => {
            let key = rng.pick(&keys).clone();
            if let Some(inner) = object.get_mut(&key) {
                mutate_value(rng, inner);
            }
        }
        _ => {
            object.insert(
                "action".into(),
                json!(rng.pick(&["execute", "EXECUTE", "run", "", "stdin"])),
            );
        }
    }
}

/// A malformed (or, now and then, valid) frame.
fn frame(rng: &mut Rng) -> String {
    let mut value = rng.pick(&seeds()).clone();
    for _ in 0..=rng.below(3) {
        mutate_value(rng, &mut value);
    }
    let mut text = value.to_string();
    match rng.below(6) {
        0 => {
            let cut = rng.below(text.len());
            text.truncate(
                text.char_indices()
                    .map(|(at, _)| at)
                    .find(|at| *at >= cut)
                    .unwrap_or(0),
            );
        }
        1 => {
            let depth = 1 + rng.below(300);
            text = format!("{}{}", "[".repeat(depth), "]".repeat(rng.below(depth)));
        }
        2 => {
            let at = rng.below(text.len());
            if text.is_char_boundary(at) {
                let pieces = ["\"", "{", "}", ",", ":", "\\", "\u{1}"];
                let piece = *rng.pick(&pieces);
                text.insert_str(at, piece);
            }
        }
        _ => {}
    }
    text
}

const KNOWN_CODES: [&str; 13] = [
    "bad_request",
    "unauthorized",
    "auth_timeout",
    "forbidden",
    "unknown_language",
    "payload_too_large",
    "concurrency_limit",
    "rate_limited",
    "not_found",
    "conflict",
    "session_limit",
    "resume_gap",
    "unavailable",
];

/// Reads until the `pong` with `t`, checking every error on the way; false if the socket
/// closed first (some frames, an `auth` with a wrong key, say, close it).
async fn drain_until_pong(socket: &mut Socket, t: u64) -> bool {
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("the server answers within the patience window");
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
            Some(Ok(_)) => continue,
        };
        let message: Value = serde_json::from_str(&text).expect("the server sends JSON");
        if message["type"] == "pong" && message["t"] == t {
            return true;
        }
        if message["type"] == "error" {
            let code = message["code"].as_str().unwrap_or_default();
            assert!(KNOWN_CODES.contains(&code), "an unnamed error: {message}");
        }
        if message["type"] == "exit" || message["type"] == "result" {
            assert_ne!(message["status"], "internal_error", "{message}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_requests_get_named_errors_and_the_server_lives_on() {
    let mut rng = Rng(seed());
    let server = Server::start(&[]);

    let mut socket = connect(&server).await;
    let mut closes = 0;
    for batch in 0..FRAMES / 50 {
        // Some frames close the socket (an `auth` with a wrong key): the rest of the batch then
        // cannot be sent, and the socket is opened again.
        let mut open = true;
        for _ in 0..50 {
            open = open && try_send(&mut socket, frame(&mut rng)).await;
        }
        let t = batch as u64 + 1_000_000;
        open = open && try_send(&mut socket, json!({"action": "ping", "t": t}).to_string()).await;
        if !open || !drain_until_pong(&mut socket, t).await {
            closes += 1;
            socket = connect(&server).await;
        }
    }
    eprintln!("fuzz: {FRAMES} frames sent; the server closed the socket {closes} times");

    for _ in 0..REQUESTS {
        let request = http_request(&mut rng);
        let mut tcp = tokio::net::TcpStream::connect(server.address)
            .await
            .expect("connect");
        tcp.write_all(&request).await.expect("write");
        let _ = tcp.shutdown().await;
        let mut answer = Vec::new();
        tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer))
            .await
            .expect("the server answers and closes within the patience window")
            .ok();
        let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
        if let Some(status) = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
        {
            assert!(
                status < 500 || status == 503,
                "{status} for {:?}",
                String::from_utf8_lossy(&request)
            );
        }
    }

    // Alive and well.
    let result = execute_http(
        &server,
        &server.key,
        json!({"language": "python", "code": "print(7)"}),
    )
    .await;
    assert_eq!(result["stdout"], "7\n", "{result}");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert!(server.stop().success());
}

async fn try_send(socket: &mut Socket, text: String) -> bool {
    use futures_util::SinkExt;
    socket.send(Message::Text(text.into())).await.is_ok()
}

fn http_request(rng: &mut Rng) -> Vec<u8> {
    let method = *rng.pick(&[
        "GET", "POST", "DELETE", "PUT", "OPTIONS", "BREW", "", "G\u{0}T",
    ]);
    let path = *rng.pick(&[
        "/api/v1/execute",
        "/api/v1/sessions",
        "/api/v1/sessions/ses-x/execute",
        "/api/v1/sessions/../../etc/passwd",
        "/ws",
        "/stream/session/x/pty?app=%ff",
        "/healthz",
        "/%00",
        "*",
        "/api/v1/languages?x=",
    ]);
    let body = match rng.below(5) {
        0 => json!({"language": "python", "code": "print(1)"}).to_string(),
        1 => frame(rng),
        2 => "{".repeat(rng.below(2000)),
        3 => String::new(),
        _ => "\u{0}\u{1}binary".to_owned(),
    };
    let mut headers = vec![format!("host: runnel")];
    match rng.below(6) {
        0 => headers.push(format!("content-length: {}", body.len())),
        1 => headers.push(format!("content-length: {}", body.len() + rng.below(100))),
        2 => headers.push("content-length: -1".to_owned()),
        3 => headers.push("transfer-encoding: chunked".to_owned()),
        4 => headers.push("content-length: 99999999999999999999".to_owned()),
        _ => {}
    }
    if rng.below(2) == 0 {
        headers.push(format!(
            "authorization: Bearer {}",
            rng.pick(&["rk_x", "", "\u{7f}"])
        ));
    }
    if rng.below(4) == 0 {
        headers.push(
            "upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13".to_owned(),
        );
    }
    if rng.below(5) == 0 {
        headers.push(format!("x-long: {}", "a".repeat(rng.below(20_000))));
    }
    format!(
        "{method} {path} HTTP/1.1\r\n{}\r\n\r\n{body}",
        headers.join("\r\n")
    )
    .into_bytes()
}
