//! End-to-end: authentication, keys, quotas, the HTTP API, SSE, and the seed's own snippets run
//! unchanged (URL and key aside).

mod common;

use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::start(&["--pool-size", "1", "--auth-timeout", "1"]))
}

#[tokio::test]
async fn key_in_the_query_string_authenticates() {
    let server = server();
    let url = format!("{}?api_key={}", server.ws_url(), server.key);
    let mut socket = connect_plain(&url).await;
    send(&mut socket, json!({"action": "ping"})).await;
    assert_eq!(recv(&mut socket).await["type"], "pong");
}

#[tokio::test]
async fn key_in_the_first_message_authenticates() {
    let server = server();
    let mut socket = connect_plain(&server.ws_url()).await;
    send(
        &mut socket,
        json!({"action": "auth", "api_key": server.key}),
    )
    .await;
    send(&mut socket, json!({"action": "ping", "t": 1})).await;
    // Whatever acknowledges the auth, a pong must come and no error.
    loop {
        let message = recv(&mut socket).await;
        assert_ne!(message["type"], "error", "{message}");
        if message["type"] == "pong" {
            break;
        }
    }
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_closed() {
    let server = server();
    let mut socket = connect_plain(&server.ws_url()).await;
    send(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": "print(1)", "api_key": "rk_wrong"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["code"], "unauthorized", "{reply}");
    assert!(
        recv_or_close(&mut socket).await.is_none(),
        "socket closed after unauthorized"
    );
}

#[tokio::test]
async fn an_unauthenticated_socket_times_out() {
    let server = server();
    let mut socket = connect_plain(&server.ws_url()).await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["code"], "auth_timeout", "{reply}");
    assert!(recv_or_close(&mut socket).await.is_none());
}

#[tokio::test]
async fn a_revoked_key_stops_working() {
    let server = server();
    let key = server.create_key(&["--name", "short-lived"]);
    let mut socket = connect_with_key(server, &key).await;
    send(&mut socket, json!({"action": "ping"})).await;
    assert_eq!(recv(&mut socket).await["type"], "pong");
    let prefix: String = key.chars().take(10).collect();
    let output = Command::new(RUNNEL)
        .args(["keys", "revoke", "--data-dir"])
        .arg(server.data_dir.path())
        .arg(&prefix)
        .output()
        .expect("keys revoke");
    assert!(output.status.success(), "{output:?}");
    let listing = Command::new(RUNNEL)
        .args(["keys", "list", "--data-dir"])
        .arg(server.data_dir.path())
        .output()
        .expect("keys list");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("revoked"), "{listing}");
    assert!(
        !listing.contains(&key),
        "keys list must never print a secret"
    );
    let client = reqwest::Client::new();
    let response = client
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&key)
        .json(&json!({"language": "python", "code": "print(1)"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn concurrency_limit_is_named() {
    let server = server();
    let key = server.create_key(&["--name", "narrow", "--max-concurrency", "1"]);
    let mut socket = connect_with_key(server, &key).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "long", "language": "bash", "stream": true, "code": "echo up; sleep 30"}),
    )
    .await;
    loop {
        if recv(&mut socket).await["type"] == "stdout" {
            break;
        }
    }
    send(
        &mut socket,
        json!({"action": "execute", "id": "second", "language": "bash", "code": "echo 2"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "concurrency_limit", "{reply}");
    assert_eq!(reply["id"], "second");
    send(
        &mut socket,
        json!({"action": "signal", "id": "long", "signal": "SIGKILL"}),
    )
    .await;
}

#[tokio::test]
async fn rate_limit_is_named() {
    let server = server();
    let key = server.create_key(&["--name", "slow", "--rate-per-minute", "2"]);
    let mut socket = connect_with_key(server, &key).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let reply = run_once(
            &mut socket,
            json!({"action": "execute", "language": "bash", "code": "true"}),
        )
        .await;
        codes.push(
            reply["code"]
                .as_str()
                .unwrap_or(reply["type"].as_str().unwrap_or_default())
                .to_owned(),
        );
    }
    assert_eq!(codes, ["result", "result", "rate_limited"]);
}

#[tokio::test]
async fn http_execute_returns_the_result() {
    let server = server();
    let response = reqwest::Client::new()
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&server.key)
        .json(&json!({"language": "python", "code": "print(input()[::-1])", "stdin": "abc\n", "timeout": 10}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["stdout"], "cba\n", "{body}");
    assert_eq!(body["exit_code"], 0);
    assert_eq!(body["status"], "ok");
    assert!(body["execution_time"].is_number());
}

#[tokio::test]
async fn http_errors_are_named_json() {
    let server = server();
    let client = reqwest::Client::new();
    let unauthorized = client
        .post(server.http_url("/api/v1/execute"))
        .json(&json!({"language": "python", "code": "print(1)"}))
        .send()
        .await
        .expect("request");
    assert_eq!(unauthorized.status(), 401);
    let body: Value = unauthorized.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized");
    let malformed = client
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&server.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.expect("json");
    assert_eq!(body["error"], "bad_request");
    let unknown = client
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&server.key)
        .json(&json!({"language": "cobol-on-wheels", "code": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 400);
    let body: Value = unknown.json().await.expect("json");
    assert_eq!(body["error"], "unknown_language");
}

#[tokio::test]
async fn server_sent_events_stream_the_run() {
    let server = server();
    let response = reqwest::Client::new()
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&server.key)
        .header("accept", "text/event-stream")
        .json(&json!({"language": "python", "code": "print('one')\nprint('two')"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(rest) = line.strip_prefix("event:") {
                    name = rest.trim().to_owned();
                } else if let Some(rest) = line.strip_prefix("data:") {
                    data.push_str(rest.trim_start());
                }
            }
            serde_json::from_str(&data).ok().map(|value| (name, value))
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"started"), "{names:?}");
    assert_eq!(names.last(), Some(&"exit"), "{names:?}");
    let stdout: String = events
        .iter()
        .filter(|(name, _)| name == "stdout")
        .map(|(_, value)| value["data"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(stdout, "one\ntwo\n");
}

#[tokio::test]
async fn languages_stats_health_and_metrics() {
    let server = server();
    let client = reqwest::Client::new();
    let languages: Value = client
        .get(server.http_url("/api/v1/languages"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = languages
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|language| language["id"].as_str())
        .collect();
    for required in [
        "python",
        "javascript",
        "typescript",
        "c",
        "cpp",
        "java",
        "go",
        "rust",
        "bash",
    ] {
        assert!(ids.contains(&required), "{required} missing from {ids:?}");
    }
    let python = languages
        .as_array()
        .expect("array")
        .iter()
        .find(|language| language["id"] == "python")
        .expect("python");
    assert!(
        python["version"]
            .as_str()
            .expect("version")
            .starts_with('3'),
        "{python}"
    );

    let mut socket = connect(server).await;
    run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": "print(1)"}),
    )
    .await;
    let stats = common::stats(server).await;
    assert!(
        stats["executions"].as_u64().expect("executions") >= 1,
        "{stats}"
    );
    assert!(stats["uptime_seconds"].as_f64().expect("uptime") > 0.0);
    let health = client
        .get(server.http_url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), 200);
    let metrics = metrics_text(server).await;
    assert!(
        metrics.contains("runnel_runs_total{language=\"python\",status=\"ok\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("runnel_run_duration_seconds_bucket"),
        "{metrics}"
    );
}

#[test]
fn seed_curl_example_runs_as_is() {
    let server = server();
    let output = Command::new("curl")
        .args(["-s", "-X", "POST"])
        .arg(server.http_url("/api/v1/execute"))
        .args(["-H", "Content-Type: application/json"])
        .args(["-H", &format!("Authorization: Bearer {}", server.key)])
        .args(["-d", "{\n    \"language\": \"python\",\n    \"code\": \"print(\\\"Hello from REST!\\\")\",\n    \"timeout\": 10\n  }"])
        .output()
        .expect("curl");
    let body: Value = serde_json::from_slice(&output.stdout).expect("json body");
    assert_eq!(body["stdout"], "Hello from REST!\n", "{body}");
    assert_eq!(body["stderr"], "");
    assert_eq!(body["exit_code"], 0);
    assert!(body["execution_time"].is_number());
}

#[test]
fn seed_python_quickstart_runs_unchanged() {
    let server = server();
    let snippet = include_str!("seeds/quickstart.py")
        .replace("wss://embedenv.com/ws", &server.ws_url())
        .replace("your-api-key", &server.key);
    let output = Command::new(python_with_websockets())
        .arg("-c")
        .arg(&snippet)
        .output()
        .expect("python quickstart");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.contains("stdout: Hello from WebSocket!\n"),
        "{stdout}"
    );
    let time_line = stdout
        .lines()
        .find(|line| line.starts_with("time: "))
        .expect("time line");
    let number = time_line
        .trim_start_matches("time: ")
        .trim_end_matches("ms");
    assert!(number.parse::<f64>().is_ok(), "{time_line}");
}

#[test]
fn seed_javascript_quickstart_runs_unchanged() {
    let server = server();
    let snippet = include_str!("seeds/quickstart.js")
        .replace("wss://embedenv.com/ws", &server.ws_url())
        .replace("your-api-key", &server.key);
    // Node 20 has WebSocket behind a flag; the snippet itself is unchanged. It never closes
    // its socket, so read until the time line and then stop it.
    let mut child = Command::new("node")
        .args(["--experimental-websocket", "-e", &snippet])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node");
    let stdout = child.stdout.take().expect("stdout");
    use std::io::{BufRead, BufReader};
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        let done = line.starts_with("time:");
        lines.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("Connected to Embedenv"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line == "stdout: Hello from WebSocket!\n"
                || line == "stdout: Hello from WebSocket!"),
        "{lines:?}"
    );
    let time = lines.last().expect("time");
    assert!(
        time.trim_start_matches("time:")
            .trim()
            .parse::<f64>()
            .is_ok(),
        "{time}"
    );
}
