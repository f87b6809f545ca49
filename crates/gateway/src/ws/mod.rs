//! `/ws`: protocol v1 over one WebSocket per client.
//!
//! Each connection has one reader (the connection task, [`connection`]), one writer task fed by
//! a bounded channel of [`outbound::Outbound`] frames (so a slow client pushes back on its
//! runs), and one task per run in flight. Closing the socket aborts the tasks of its
//! non-streamed runs, which drops their handles and so kills the runs; streamed runs outlive it
//! for the run grace period, waiting for a `resume` ([`resumable`]).

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
use crate::socket::{self, close};
use crate::state::AppState;

/// Frames queued for one client before producers wait (a frame holds at most one 64 KiB
/// read of output, serialized: about 2 MiB for a client that stops reading).
const OUTBOUND_CAPACITY: usize = 32;
/// Frames written before the writer flushes even when more are queued.
const MAX_BATCH: u64 = 64;

/// `GET /ws`: upgrade, taking the key from the header or the query when given there.
pub(crate) async fn handler(
    State(state): State<AppState>,
    credentials: Credentials,
    upgrade: WebSocketUpgrade,
) -> Response {
    socket::configure(upgrade, &state)
        .on_failed_upgrade(|error| tracing::debug!(%error, "websocket upgrade failed"))
        .on_upgrade(move |socket| connection::serve(socket, state, credentials))
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
