//! What a key may do with sessions: see and use only its own, and hold at most its quota
//! (session count, and the rate its executes count against).

mod common;

use common::session::{create_http, http};
use common::{connect_with_key, recv, send, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn another_key_sees_no_session() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "python").await;
    let other = server.create_key(&[]);
    for (method, path) in [
        ("GET", format!("/api/v1/sessions/{session}")),
        ("DELETE", format!("/api/v1/sessions/{session}")),
        ("POST", format!("/api/v1/sessions/{session}/restart")),
        ("GET", format!("/api/v1/sessions/{session}/files")),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = http()
            .request(method, server.http_url(&path))
            .bearer_auth(&other)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{path}");
    }
    let listed: Value = http()
        .get(server.http_url("/api/v1/sessions"))
        .bearer_auth(&other)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["sessions"], json!([]));
    let mut socket = connect_with_key(&server, &other).await;
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "x", "code": "print(1)"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["code"], "not_found", "{reply}");
    send(
        &mut socket,
        json!({"action": "resume", "session": session, "last_seq": 0}),
    )
    .await;
    assert_eq!(recv(&mut socket).await["code"], "not_found");
    let pty = format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={other}",
        server.address
    );
    assert!(
        tokio_tungstenite::connect_async(pty).await.is_err(),
        "pty refused"
    );
    // The owner still has it.
    let response = http()
        .get(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_key_has_at_most_its_sessions() {
    let server = Server::start(&[]);
    let key = server.create_key(&["--max-sessions", "1"]);
    create_http(&server, &key, "bash").await;
    let response = http()
        .post(server.http_url("/api/v1/sessions"))
        .bearer_auth(&key)
        .json(&json!({"language": "bash"}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "session_limit");
    // Session executes count against the key's rate like one-shot runs.
    let slow = server.create_key(&["--rate-per-minute", "2"]);
    let session = create_http(&server, &slow, "bash").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = http()
            .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
            .bearer_auth(&slow)
            .json(&json!({"code": "echo hi"}))
            .send()
            .await
            .expect("execute");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let mut socket = connect_with_key(&server, &key).await;
    send(
        &mut socket,
        json!({"action": "create_session", "language": "bash", "id": "s2"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(
        (reply["code"].as_str(), reply["id"].as_str()),
        (Some("session_limit"), Some("s2"))
    );
}
