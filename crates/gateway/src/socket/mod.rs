//! What every WebSocket the server accepts shares (`/ws`, a session's bound socket, a
//! terminal): the transport's settings ([`configure`]) and the close handshake ([`close`]).

pub(crate) mod close;

use axum::extract::ws::WebSocketUpgrade;

use crate::state::AppState;

/// The transport's frame bound, as a multiple of the protocol's `max_frame_bytes`.
const TRANSPORT_FACTOR: usize = 16;
/// Read buffer per socket, and the most read at once. tungstenite zero-fills the whole buffer
/// before each read, so every idle socket holds all of it: 2 KiB (8 KiB cost 6 KiB more per
/// idle socket; see `benches/idle_connections.rs`). A large frame grows it to its size.
const READ_BUFFER_BYTES: usize = 2 << 10;

/// The transport settings of every WebSocket the server accepts: the small read buffer, and
/// the frame bound past which the socket is closed with 1009. The bound is well above the
/// protocol's maximum, so that a frame too large for the protocol is answered with a named
/// `payload_too_large` error instead.
pub(crate) fn configure(upgrade: WebSocketUpgrade, state: &AppState) -> WebSocketUpgrade {
    let transport_max = state
        .config()
        .max_frame_bytes
        .saturating_mul(TRANSPORT_FACTOR);
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(transport_max)
        .max_frame_size(transport_max)
}
