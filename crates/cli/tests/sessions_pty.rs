//! A session's terminal (`/stream/session/:id/pty`) speaks the seed's protocol: keys in, output
//! out (base64), resize, ping, restart, errors, and the REPL as a second service.

mod common;

use base64::Engine as _;
use common::session::create_http;
use common::{connect_plain, recv, send, Server, Socket};
use serde_json::json;

async fn pty_out_until(socket: &mut Socket, wanted: &str) -> String {
    let mut seen = Vec::new();
    loop {
        let message = recv(socket).await;
        assert_eq!(message["type"], "out", "{message}");
        let data = base64::engine::general_purpose::STANDARD
            .decode(message["data"].as_str().expect("data"))
            .expect("out data is base64");
        seen.extend(data);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains(wanted) {
            return text;
        }
    }
}

async fn type_keys(socket: &mut Socket, keys: &str) {
    let chars = base64::engine::general_purpose::STANDARD.encode(keys);
    send(socket, json!({"type": "stdin", "chars": chars})).await;
}

#[tokio::test]
async fn pty_speaks_the_seed_protocol() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "python").await;
    let url = format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={}",
        server.address, server.key
    );
    let mut socket = connect_plain(&url).await;
    type_keys(&mut socket, "echo hi\r").await;
    let shown = pty_out_until(&mut socket, "hi\r\n").await;
    assert!(
        shown.contains("echo hi"),
        "the terminal echoes what is typed: {shown:?}"
    );
    send(
        &mut socket,
        json!({"type": "resize", "rows": 33, "cols": 101}),
    )
    .await;
    type_keys(&mut socket, "stty size; echo $TERM\r").await;
    pty_out_until(&mut socket, "33 101\r\nxterm-256color").await;
    send(&mut socket, json!({"type": "ping"})).await;
    type_keys(&mut socket, "export MARK=before\r").await;
    send(&mut socket, json!({"type": "restart"})).await;
    type_keys(&mut socket, "echo ${MARK:-fresh}-shell\r").await;
    pty_out_until(&mut socket, "fresh-shell").await;
    send(&mut socket, json!({"type": "nonsense"})).await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "error" {
            assert!(message["data"]
                .as_str()
                .expect("data")
                .contains("bad message"));
            break;
        }
    }
    let repl_url = format!(
        "ws://{}/stream/session/{session}/pty?app=python&api_key={}",
        server.address, server.key
    );
    let mut repl = connect_plain(&repl_url).await;
    type_keys(&mut repl, "6 * 7\r").await;
    pty_out_until(&mut repl, "42").await;
}
