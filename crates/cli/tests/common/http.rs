//! HTTP API helpers: sessions and executes over HTTP, `/metrics`, `/api/v1/stats` and
//! `/healthz`.

use std::time::Duration;

use serde_json::Value;

use super::{Server, PATIENCE};

/// Create a session over HTTP with `key`; its id.
pub async fn create_session_http(server: &Server, key: &str, language: &str) -> String {
    let response = reqwest::Client::new()
        .post(server.http_url("/api/v1/sessions"))
        .bearer_auth(key)
        .json(&serde_json::json!({"language": language}))
        .send()
        .await
        .expect("create session");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("json");
    body["id"].as_str().expect("session id").to_owned()
}

/// One one-shot run over HTTP with `key`; the `result` body.
pub async fn execute_http(server: &Server, key: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(key)
        .json(&body)
        .timeout(PATIENCE)
        .send()
        .await
        .expect("execute");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// One execute in `session` over HTTP with `key`; the `result` body.
pub async fn session_execute_http(server: &Server, key: &str, session: &str, code: &str) -> Value {
    let response = reqwest::Client::new()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
        .bearer_auth(key)
        .json(&serde_json::json!({"code": code}))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("session execute");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// `GET /metrics` with the operator key: the exposition text.
pub async fn metrics_text(server: &Server) -> String {
    reqwest::Client::new()
        .get(server.http_url("/metrics"))
        .bearer_auth(&server.operator_key)
        .timeout(PATIENCE)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// `GET /api/v1/stats`, with the operator key.
pub async fn stats(server: &Server) -> Value {
    reqwest::Client::new()
        .get(server.http_url("/api/v1/stats"))
        .bearer_auth(&server.operator_key)
        .timeout(PATIENCE)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json")
}

/// `GET /healthz`: the HTTP status and the body.
pub async fn healthz(server: &Server) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(server.http_url("/healthz"))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("healthz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("healthz json"))
}

/// Polls `/healthz` until `accept` takes its body (within [`PATIENCE`]); the body.
pub async fn healthz_until(
    server: &Server,
    what: &str,
    accept: impl Fn(u16, &Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, body) = healthz(server).await;
        if accept(status, &body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never showed {what}; last: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
