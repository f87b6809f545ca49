//! Server-Sent Events for `POST /api/v1/execute`: the events of a streamed run (`started`,
//! `stdout`, `stderr`, `exit`), each named by its `type`, with the WebSocket message as data.

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use runnel_protocol::{ErrorCode, ServerMessage};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use crate::execution::Execution;
use crate::revocation::Revoked;

/// Events buffered for one SSE client before the run waits.
const EVENT_CAPACITY: usize = 64;

/// Stream `execution` to the client. When the client goes away, or the key (`key_id`) is
/// revoked, the run is killed and the stream ends.
pub(crate) fn respond(execution: Execution, (mut revoked, key_id): (Revoked, String)) -> Response {
    let (events, receiver) = mpsc::channel::<ServerMessage>(EVENT_CAPACITY);
    let span = tracing::debug_span!("sse", run_id = %execution.id());
    let id = execution.id().to_owned();
    tokio::spawn(
        async move {
            tokio::select! {
                () = execution.stream(&events) => {}
                () = revoked.of(Some(&key_id)) => {
                    let message = "the API key was revoked during the run";
                    let error = ServerMessage::error(ErrorCode::Unauthorized, message, Some(id));
                    let _ = events.send(error).await;
                }
            }
        }
        .instrument(span),
    );
    let stream = ReceiverStream::new(receiver).map(|message| Ok::<_, Infallible>(event(&message)));
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One SSE event: name = the message's `type`, data = the message's JSON.
pub(crate) fn event(message: &ServerMessage) -> Event {
    Event::default()
        .event(message.kind())
        .data(message.to_json())
}

#[cfg(test)]
mod tests {
    use runnel_protocol::OutputChunk;

    use super::*;

    #[test]
    fn event_name_matches_the_json_type() {
        let message = ServerMessage::Stdout(OutputChunk {
            id: "r".into(),
            data: "hi\n".into(),
            seq: 2,
            stage: None,
            encoding: None,
            session: None,
        });
        let json: serde_json::Value = serde_json::from_str(&message.to_json()).expect("valid JSON");
        assert_eq!(json["type"], message.kind());
        let error = ServerMessage::error(runnel_protocol::ErrorCode::BadRequest, "x", None);
        assert_eq!(error.kind(), "error");
    }
}
