//! What idle authenticated WebSockets cost the server: `cargo bench -p runnel-cli --bench
//! idle_connections` starts the real `runnel serve`, opens `RUNNEL_IDLE_CONNECTIONS` (default
//! 10,000) sockets, each authenticated with the `Authorization` header and answered one
//! `ping`, holds them, and reports the server's resident memory (`VmRSS`) before and after, per
//! connection, with the connect-and-ping latency (p50/p95/p99). Needs twice that many open
//! files between this process and the server (their hard limit is raised to).
#![allow(clippy::disallowed_methods, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const RUNNEL: &str = env!("CARGO_BIN_EXE_runnel");
/// Connections opened first, before the memory is read.
const WARM: usize = 16;
/// Connections opened at once while filling.
const IN_FLIGHT: usize = 200;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the server's /proc status")
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

async fn open(url: &str, key: &str) -> (Socket, Duration) {
    let started = Instant::now();
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    socket
        .send(Message::Text(r#"{"action":"ping","t":1}"#.into()))
        .await
        .expect("ping");
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("pong") => break,
            Some(Ok(_)) => continue,
            other => panic!("no pong: {other:?}"),
        }
    }
    (socket, started.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("RUNNEL_IDLE_CONNECTIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let open_files = runnel_sandbox::raise_open_files_limit().expect("raise RLIMIT_NOFILE");
    assert!(
        open_files as usize / 2 >= count,
        "{count} connections need twice as many open files; the hard limit is {open_files}"
    );
    let data = tempfile::tempdir().expect("tempdir");
    let created = Command::new(RUNNEL)
        .args(["keys", "create", "--scope", "operator", "--max-connections"])
        .arg((count + 10).to_string())
        .arg("--data-dir")
        .arg(data.path())
        .env("RUNNEL_LOG", "warn")
        .output()
        .expect("keys create");
    assert!(created.status.success(), "{created:?}");
    let key = String::from_utf8_lossy(&created.stdout)
        .lines()
        .find(|line| line.starts_with("rk_"))
        .expect("a key")
        .to_owned();
    let mut server = Command::new(RUNNEL)
        .args(["serve", "--listen", "127.0.0.1:0", "--stop-on-stdin-close"])
        .args(["--pool-size", "0", "--session-pool-size", "0"])
        .args(["--max-connections", &count.to_string()])
        .args(["--max-connections-per-address", &(count + 100).to_string()])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUNNEL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runnel serve");
    let stdout = server.stdout.take().expect("stdout");
    let address = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("runnel listening on http://")
                .map(|rest| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                })
        })
        .expect("the listening line");
    let url = format!("ws://{address}/ws");
    let pid = server.id();

    // Warm: the first connections allocate what every later one shares (they count in the
    // total held, not in the cost per connection).
    let mut held = Vec::with_capacity(count);
    for _ in 0..WARM {
        held.push(open(&url, &key).await.0);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = resident_kib(pid);
    let mut latencies = Vec::with_capacity(count);
    while held.len() < count {
        let batch = IN_FLIGHT.min(count - held.len());
        let opened = futures_util::future::join_all((0..batch).map(|_| open(&url, &key))).await;
        for (socket, latency) in opened {
            held.push(socket);
            latencies.push(latency);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = resident_kib(pid);
    latencies.sort();
    let per_connection = (after.saturating_sub(before)) as f64 / (count - WARM) as f64;
    println!(
        "idle authenticated sockets: {count}\nserver VmRSS: {:.1} MiB before, {:.1} MiB after \
         ({:.1} MiB with them)\nper connection: {per_connection:.2} KiB\nconnect + auth + ping: \
         p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / 1024.0,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.99),
    );
    drop(held);
    drop(server.stdin.take());
    let _ = server.wait();
}
