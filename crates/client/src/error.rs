//! The client's error type: one variant per step that can fail, naming the URL, path or run id.

use std::path::PathBuf;
use std::time::Duration;

use runnel_protocol::ErrorCode;

/// Why a client operation failed. A user program failing is never an error: it is an `exit`
/// or `result` with a status.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be used.
    #[error("invalid url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The WebSocket connection or handshake failed.
    #[error("connect to {url}")]
    Connect {
        /// The normalised URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The server refused the API key.
    #[error("{url} refused the api key (unknown or revoked)")]
    Unauthorized {
        /// The normalised URL.
        url: String,
    },
    /// Sending a frame failed.
    #[error("send to {url}")]
    Send {
        /// The normalised URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The connection was lost and every reconnection attempt failed.
    #[error("lost the connection to {url} and gave up after {attempts} reconnection attempts; is the server up? (more tries: ClientOptions.reconnect.max_retries)")]
    GaveUp {
        /// The normalised URL.
        url: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The connection is closed.
    #[error("connection to {url} is closed")]
    Closed {
        /// The normalised URL.
        url: String,
    },
    /// The server answered with a protocol error.
    #[error("server error {}{}: {message}", code.as_str(), id.as_deref().map(|id| format!(" for run {id}")).unwrap_or_default())]
    Server {
        /// The named error.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
        /// The run it is about.
        id: Option<String>,
    },
    /// The server sent something the protocol does not allow here.
    #[error("unexpected `{got}` message for run {id} (expected {expected})")]
    Unexpected {
        /// The run id.
        id: String,
        /// What was expected.
        expected: &'static str,
        /// The message type received.
        got: String,
    },
    /// A run id given by the caller is already in use on this connection.
    #[error("run id {id} is already in use on this connection")]
    DuplicateRunId {
        /// The id.
        id: String,
    },
    /// Nothing arrived in time.
    #[error("no answer to {what} within {after:?}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The time waited.
        after: Duration,
    },
    /// The program file could not be read.
    #[error("read program {path}")]
    ReadProgram {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The program's language cannot be inferred from its file name.
    #[error("cannot tell the language of {path} from its extension: pass --language")]
    UnknownExtension {
        /// The file.
        path: PathBuf,
    },
    /// A program read from stdin needs an explicit language.
    #[error("a program read from stdin (`-`) needs --language")]
    LanguageRequired,
    /// Writing the program's output to the terminal failed.
    #[error("write program output to the terminal")]
    WriteOutput(#[source] std::io::Error),
    /// Spawning a local process (the bench's bare baseline) failed.
    #[error("spawn {program}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
