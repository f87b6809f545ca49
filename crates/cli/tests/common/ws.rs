//! WebSocket helpers: connecting (Bearer header or a plain URL), sending and receiving JSON
//! messages, and following a run or a session to its end.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{Server, PATIENCE};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket authenticated with the Bearer header.
pub async fn connect(server: &Server) -> Socket {
    connect_with_key(server, &server.key).await
}

pub async fn connect_with_key(server: &Server, key: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = server.ws_url().into_client_request().expect("request");
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {key}").parse().expect("header"),
    );
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket connects");
    socket
}

pub async fn connect_plain(url: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    socket
}

pub async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .expect("send");
}

pub async fn send_text(socket: &mut Socket, text: &str) {
    socket
        .send(Message::Text(text.to_owned().into()))
        .await
        .expect("send");
}

/// The next JSON message; panics on close or after [`PATIENCE`].
pub async fn recv(socket: &mut Socket) -> Value {
    match recv_or_close(socket).await {
        Some(value) => value,
        None => panic!("socket closed while a message was expected"),
    }
}

/// The next JSON message, or None if the socket closed.
pub async fn recv_or_close(socket: &mut Socket) -> Option<Value> {
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message within the patience window");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("server sends JSON"))
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// Messages of run `id` until its `exit` (inclusive).
pub async fn collect_run(socket: &mut Socket, id: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        let message = recv(socket).await;
        if message["id"] != id {
            continue;
        }
        let done = message["type"] == "exit" || message["type"] == "error";
        messages.push(message);
        if done {
            return messages;
        }
    }
}

/// Concatenated `data` of the run-stage chunks of one stream.
pub fn stream_text(messages: &[Value], stream: &str) -> String {
    messages
        .iter()
        .filter(|message| message["type"] == stream && message.get("stage").is_none())
        .map(|message| message["data"].as_str().unwrap_or_default())
        .collect()
}

/// One non-streamed run: the `result` message.
pub async fn run_once(socket: &mut Socket, request: Value) -> Value {
    send(socket, request).await;
    loop {
        let message = recv(socket).await;
        if message["type"] == "result" || message["type"] == "error" {
            return message;
        }
    }
}

/// Every JSON message until the server's close frame: the messages and the close code
/// (`None` if the connection ended without a close frame).
pub async fn recv_until_close(socket: &mut Socket) -> (Vec<Value>, Option<u16>) {
    let mut messages = Vec::new();
    loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message or a close within the patience window");
        match frame {
            Some(Ok(Message::Text(text))) => {
                messages.push(serde_json::from_str(&text).expect("server sends JSON"))
            }
            Some(Ok(Message::Close(frame))) => {
                return (messages, frame.map(|frame| u16::from(frame.code)))
            }
            None | Some(Err(_)) => return (messages, None),
            Some(Ok(_)) => {}
        }
    }
}

/// A socket that follows `session` (resumed from its start), once the server said so.
pub async fn follow_session(server: &Server, session: &str) -> Socket {
    let mut socket = connect(server).await;
    send(
        &mut socket,
        serde_json::json!({"action": "resume", "session": session, "last_seq": 0}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "session" && message["event"] == "resumed" {
            return socket;
        }
    }
}
