//! The WebSocket close handshake (issue 11, item 5), with a real client library
//! (tokio-tungstenite): the server answers a client's close frame with its own and closes the
//! TCP connection, on `/ws` (idle, and after a streamed run) and on a terminal; a frame over
//! the transport's bound is answered with close code 1009.

mod common;

use common::{connect, connect_plain, recv, send, Server, Socket, PATIENCE};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// Close with `code`; the server's close frame (its code), after which the stream must end.
async fn close_and_hear_back(socket: &mut Socket, code: u16) -> u16 {
    socket
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: "done".into(),
        })))
        .await
        .expect("send close");
    let answer = loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("an answer within the patience window");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(Message::Close(None))) => panic!("a close frame without a code"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => panic!("no close frame, the connection broke: {error}"),
            None => panic!("no close frame: the connection just ended"),
        }
    };
    // After the handshake the server closes the TCP connection.
    let end = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .expect("the connection ends within the patience window");
    assert!(
        matches!(end, None | Some(Err(_))),
        "more after the close handshake: {end:?}"
    );
    answer
}

#[tokio::test]
async fn the_server_answers_a_clients_close_on_an_idle_socket() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    send(&mut socket, json!({"action": "ping", "t": 1})).await;
    assert_eq!(recv(&mut socket).await["type"], "pong");
    assert_eq!(close_and_hear_back(&mut socket, 1000).await, 1000);
    // The code the client gave is echoed.
    let mut socket = connect(&server).await;
    assert_eq!(close_and_hear_back(&mut socket, 4001).await, 4001);
}

#[tokio::test]
async fn the_server_answers_a_clients_close_after_a_streamed_run() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "s", "language": "bash", "stream": true, "code": "echo hi"}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "exit" {
            assert_eq!(message["status"], "ok", "{message}");
            break;
        }
    }
    assert_eq!(close_and_hear_back(&mut socket, 1000).await, 1000);
}

#[tokio::test]
async fn the_server_answers_a_clients_close_on_a_terminal() {
    let server = Server::start(&[]);
    let session = common::create_session_http(&server, &server.key, "bash").await;
    let mut terminal = connect_plain(&format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={}",
        server.address, server.key
    ))
    .await;
    send(&mut terminal, json!({"type": "ping"})).await;
    assert_eq!(close_and_hear_back(&mut terminal, 1000).await, 1000);
}

#[tokio::test]
async fn a_frame_over_the_transport_bound_is_closed_with_1009() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    send(&mut socket, json!({"action": "ping", "t": 1})).await;
    assert_eq!(recv(&mut socket).await["type"], "pong");
    // 17 MiB: past the bound (16 times the 1 MiB protocol maximum).
    let huge = "x".repeat(17 << 20);
    // The server may stop reading before the whole frame is out: the send may fail.
    let _ = socket.send(Message::Text(huge.into())).await;
    let code = loop {
        let frame = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("an answer within the patience window");
        match frame {
            Some(Ok(Message::Close(Some(frame)))) => break u16::from(frame.code),
            Some(Ok(Message::Text(text))) => panic!("a message instead of the close: {text}"),
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, 1009);
}
