//! Answers about a run id that both kinds of run on a connection give: one-shot runs and
//! session runs.

use runnel_engine::StdinRefused;
use runnel_protocol::{ErrorCode, ServerMessage};

/// The answer to stdin a run did not take: `not_found` when it has ended, `payload_too_large`
/// when what was sent before still waits for the program to read it.
pub(super) fn stdin_refused(id: String, refused: StdinRefused) -> ServerMessage {
    match refused {
        StdinRefused::Closed => not_found(id),
        full @ StdinRefused::Full { .. } => ServerMessage::error(
            ErrorCode::PayloadTooLarge,
            format!("stdin for `{id}` not taken: {full}"),
            Some(id),
        ),
    }
}

/// `not_found` for a run id this connection has no run in flight for.
pub(super) fn not_found(id: String) -> ServerMessage {
    let message = format!("no run `{id}` in flight on this connection");
    ServerMessage::error(ErrorCode::NotFound, message, Some(id))
}
