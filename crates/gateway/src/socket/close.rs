//! The close handshake (RFC 6455 §7), the same on every socket: `/ws`, a session's bound
//! socket and a terminal.
//!
//! - The client closes: tungstenite queues the echo of its close frame as it reads it; the
//!   server flushes it ([`finish`]) and the TCP connection closes at once.
//! - The server closes: it sends its close frame, then reads (for [`REPLY_PATIENCE`] at most)
//!   until the client's reply, then the TCP connection closes.
//! - A frame over the transport's bound is answered 1009, invalid UTF-8 1007, a protocol
//!   violation 1002 ([`code_for_read_error`]).

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};

/// Normal closure.
pub(crate) const CLOSE_NORMAL: u16 = 1000;
/// A server going away.
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;
/// A policy violation (a bad key, no key in time, a revoked key).
pub(crate) const CLOSE_POLICY: u16 = 1008;
/// A frame larger than the server takes.
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;
/// Text that is not UTF-8.
const CLOSE_INVALID_DATA: u16 = 1007;
/// A WebSocket protocol violation.
const CLOSE_PROTOCOL: u16 = 1002;
/// How long the server waits for the client's close frame after sending its own.
pub(crate) const REPLY_PATIENCE: Duration = Duration::from_secs(2);
/// How long sending the last close frame may take (a client that does not read).
const SEND_PATIENCE: Duration = Duration::from_secs(2);

/// The close code for a failed read, when the failure is the client's (a frame too big, bad
/// UTF-8, a protocol violation); `None` when the connection itself broke.
pub(crate) fn code_for_read_error(error: &axum::Error) -> Option<(u16, &'static str)> {
    use tungstenite::error::Error;
    let inner = std::error::Error::source(error)?.downcast_ref::<Error>()?;
    match inner {
        Error::Capacity(_) => Some((CLOSE_TOO_BIG, "frame too large")),
        Error::Utf8(_) => Some((CLOSE_INVALID_DATA, "text is not UTF-8")),
        Error::Protocol(_) => Some((CLOSE_PROTOCOL, "protocol error")),
        _ => None,
    }
}

/// Send `code` as the server's close frame; a close the client sent first is answered with
/// its own code instead (tungstenite queued that echo when it read the frame).
pub(crate) async fn send(
    sink: &mut SplitSink<WebSocket, Message>,
    code: u16,
    reason: &'static str,
) {
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let sending = async {
        // After the client's close, tungstenite refuses a new frame (`SendAfterClosing`): a
        // flush then writes the echo it queued.
        if sink.send(close).await.is_err() {
            let _ = sink.flush().await;
        }
    };
    let _ = tokio::time::timeout(SEND_PATIENCE, sending).await;
}

/// After the server's close frame: read until the client's (or the end), for
/// [`REPLY_PATIENCE`] at most. Returns at once when the client closed first.
pub(crate) async fn await_reply(stream: &mut SplitStream<WebSocket>) {
    let reply = async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(REPLY_PATIENCE, reply).await;
}
