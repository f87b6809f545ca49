//! A session over HTTP and its execute stream (`/stream/session/:id/execute`): executes run
//! in the session's state; info and delete.

mod common;

use common::session::{collect, create_http, http, text};
use common::{connect_plain, send, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn the_session_execute_stream_and_http_execute_run_in_the_session() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "python").await;
    let result: Value = http()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
        .bearer_auth(&server.key)
        .json(&json!({"code": "y = 6 * 7\nprint(y)"}))
        .send()
        .await
        .expect("execute")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (result["stdout"].as_str(), result["status"].as_str()),
        (Some("42\n"), Some("ok")),
        "{result}"
    );
    // Stdin given up front answers input(), line by line, as in a plain run.
    let result: Value = http()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
        .bearer_auth(&server.key)
        .json(&json!({"code": "a = input('a? ')\nb = input()\nprint(int(a) + int(b))", "stdin": "40\n2\n"}))
        .send()
        .await
        .expect("execute")
        .json()
        .await
        .expect("json");
    assert_eq!(result["stdout"], "a? 42\n", "{result}");
    let url = format!(
        "ws://{}/stream/session/{session}/execute?api_key={}",
        server.address, server.key
    );
    let mut socket = connect_plain(&url).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "s", "code": "print(y + 1)"}),
    )
    .await;
    let events = collect(&mut socket, "s").await;
    assert_eq!(text(&events, "stdout"), "43\n");
    let info: Value = http()
        .get(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(info["services"], json!(["shell", "python"]));
    assert_eq!(info["stateful"], true);
    let deleted = http()
        .delete(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
}
