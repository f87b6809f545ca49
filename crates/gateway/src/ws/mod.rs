//! `/ws`: protocol v1 over one WebSocket per client.
//!
//! Each connection has one reader (the connection task, [`connection`]), one writer task fed by
//! a bounded channel of [`outbound::Outbound`] frames (so a slow client pushes back on its
//! runs), and one task per run in flight. Closing the socket aborts the tasks of its non-streamed runs, which
//! drops their handles and so kills the runs; streamed runs outlive it for the run grace
//! period, waiting for a `resume` ([`resumable`]).

pub(crate) mod close;
pub(crate) mod connection;
pub(crate) mod outbound;
pub(crate) mod resumable;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::mpsc;

use self::outbound::Outbound;
use crate::auth::Credentials;
use crate::state::AppState;

/// Frames queued for one client before producers wait (a frame holds at most one 64 KiB
/// read of output, serialized: about 2 MiB for a client that stops reading).
const OUTBOUND_CAPACITY: usize = 32;
/// Frames written before the writer flushes even when more are queued.
const MAX_BATCH: u64 = 64;
/// The transport's frame bound, as a multiple of the protocol's `max_frame_bytes`.
const TRANSPORT_FACTOR: usize = 16;
/// WebSocket close code for policy violations (bad key, no key in time).
pub(crate) const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code for a server going away.
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;
/// Read buffer per socket, and the most read at once. tungstenite zero-fills the whole buffer
/// before each read, so every idle socket holds all of it: 2 KiB (8 KiB cost 6 KiB more per
/// idle socket; see `benches/idle_connections.rs`). A large frame grows it to its size.
const READ_BUFFER_BYTES: usize = 2 << 10;

/// `GET /ws`: upgrade, taking the key from the header or the query when given there.
pub(crate) async fn handler(
    State(state): State<AppState>,
    credentials: Credentials,
    upgrade: WebSocketUpgrade,
) -> Response {
    configure(upgrade, &state)
        .on_failed_upgrade(|error| tracing::debug!(%error, "websocket upgrade failed"))
        .on_upgrade(move |socket| connection::serve(socket, state, credentials))
}

/// The transport settings of every WebSocket the server accepts (`/ws`, a session's bound
/// socket, a terminal): the small read buffer, and the frame bound past which the socket is
/// closed with 1009. The bound is well above the protocol's maximum, so that a frame too large
/// for the protocol is answered with a named `payload_too_large` error instead.
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

/// Write queued frames, batching what is already queued before one flush, until a close
/// frame is queued or `stop` fires (the connection is over: what is queued is written, then the
/// close handshake is answered or begun, see [`close`]).
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbound: mpsc::Receiver<Outbound>,
    state: AppState,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let first = tokio::select! {
            biased;
            frame = outbound.recv() => frame,
            _ = &mut stop => None,
        };
        let Some(first) = first else { break };
        let mut written = 0_u64;
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            match frame {
                Outbound::Text(text) => {
                    if sink.feed(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    written += 1;
                }
                Outbound::Close { code, reason } => {
                    close::send(&mut sink, code, reason).await;
                    state.metrics().frames_out(written);
                    return;
                }
            }
            if written < MAX_BATCH {
                next = outbound.try_recv().ok();
            }
        }
        state.metrics().frames_out(written);
        if sink.flush().await.is_err() {
            return;
        }
    }
    close::send(&mut sink, close::CLOSE_NORMAL, "").await;
}
