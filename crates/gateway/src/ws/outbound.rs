//! What goes out on a `/ws` socket: [`Outbound`] frames, for the connection's writer task.

use runnel_protocol::ServerMessage;

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
