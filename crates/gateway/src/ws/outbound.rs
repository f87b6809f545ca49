//! What goes out on a `/ws` socket: [`Outbound`] frames, queued in a bounded channel
//! ([`Outbox`]) that the connection's writer task empties, so that a slow client pushes back
//! on whatever answers it (its reader, its runs, the sessions it follows).

use runnel_protocol::ServerMessage;
use tokio::sync::mpsc;

/// Frames queued for one client before producers wait (a frame holds at most one 64 KiB
/// read of output, serialized: about 2 MiB for a client that stops reading).
const OUTBOUND_CAPACITY: usize = 32;

/// A frame for the writer task.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A protocol message, already serialized (by the producer, so that runs serialize in
    /// parallel and the writer only writes).
    Text(String),
    /// A close frame; the writer stops after it.
    Close {
        /// The close code.
        code: u16,
        /// The reason, for people.
        reason: &'static str,
    },
}

impl From<ServerMessage> for Outbound {
    fn from(message: ServerMessage) -> Outbound {
        Outbound::Text(message.to_json())
    }
}

/// The sending side of one connection's queue of frames. Cheap to clone: every task that
/// answers on the socket holds one.
#[derive(Debug, Clone)]
pub(crate) struct Outbox(mpsc::Sender<Outbound>);

impl Outbox {
    /// A connection's queue: the outbox, and the receiver its writer task empties.
    pub(crate) fn bounded() -> (Outbox, mpsc::Receiver<Outbound>) {
        let (sender, receiver) = mpsc::channel(OUTBOUND_CAPACITY);
        (Outbox(sender), receiver)
    }

    /// Queue `message`, waiting while the queue is full. Fails only when the writer is gone,
    /// and then the connection's reader ends soon too: there is nobody left to tell.
    pub(crate) async fn send(&self, message: ServerMessage) {
        let _ = self.0.send(Outbound::from(message)).await;
    }

    /// Queue a close frame with `code`.
    pub(crate) async fn close(&self, code: u16, reason: &'static str) {
        let _ = self.0.send(Outbound::Close { code, reason }).await;
    }

    /// The channel itself, for a forwarder that must stop when the socket is gone.
    pub(crate) fn sender(&self) -> &mpsc::Sender<Outbound> {
        &self.0
    }
}
