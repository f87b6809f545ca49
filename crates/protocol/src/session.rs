//! Sessions on the wire: the HTTP bodies of `/api/v1/sessions*` and the terminal protocol of
//! `/stream/session/:id/pty` (the seed's, word for word).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A session, as `POST /api/v1/sessions` and `GET /api/v1/sessions/:id` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    /// The session id.
    pub id: String,
    /// The language id.
    pub language: String,
    /// The runtime's version.
    pub version: String,
    /// Services for `/stream/session/:id/pty?app=` (`shell`, and the language's REPL).
    pub services: Vec<String>,
    /// Whether interpreter state (variables, imports) persists across executes; without it,
    /// only the files do.
    pub stateful: bool,
    /// The last sequence number of the session's events.
    pub seq: u64,
    /// The idle timeout, seconds.
    pub idle_timeout: f64,
    /// Seconds since the last activity.
    pub idle_seconds: f64,
    /// The execute in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
}

/// `GET /api/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionList {
    /// The key's sessions.
    pub sessions: Vec<SessionInfo>,
}

/// `POST /api/v1/sessions/:id/files`: files to write under the session's work directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FilesUpload {
    /// The files (`name` relative, `encoding` `utf8`, `base64` or `hex`).
    pub files: Vec<crate::FileSpec>,
}

/// One file of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FileEntryInfo {
    /// Path relative to the work directory.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether it is executable.
    pub executable: bool,
}

/// `GET /api/v1/sessions/:id/files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FileList {
    /// The regular files under the work directory (symlinks are not listed), at most 10,000.
    pub files: Vec<FileEntryInfo>,
    /// There were more files than a listing returns.
    #[serde(default)]
    pub truncated: bool,
}

/// A client frame on `/stream/session/:id/pty`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PtyClientMessage {
    /// Keystrokes: base64 of the raw bytes (control characters included).
    Stdin {
        /// Base64 of the bytes.
        chars: String,
    },
    /// Set the terminal size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Keep the session alive.
    Ping,
    /// Start the service again (the files stay).
    Restart,
}

/// A server frame on `/stream/session/:id/pty`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PtyServerMessage {
    /// Terminal output (stdout and stderr merged): base64 of the raw bytes.
    Out {
        /// Base64 of the bytes.
        data: String,
    },
    /// A server-side error, for people.
    Error {
        /// The message.
        data: String,
    },
}
