//! The writer task of a connection: the only one that writes to its socket.

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio::sync::{mpsc, oneshot};

use crate::socket::close;
use crate::state::AppState;
use crate::ws::outbound::Outbound;

/// Frames written before the writer flushes even when more are queued.
const MAX_BATCH: u64 = 64;

/// Write queued frames, batching what is already queued before one flush, until a close
/// frame is queued or `stop` fires (the connection is over: what is queued is written, then the
/// close handshake is answered or begun, see [`close`]).
pub(super) async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut outbound: mpsc::Receiver<Outbound>,
    state: AppState,
    mut stop: oneshot::Receiver<()>,
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
