//! Messages from a client, tagged by `action`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::limits::LimitsSpec;

/// Longest client-chosen run id, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Most files one `execute` or upload may carry.
pub const MAX_FILES: usize = 256;
/// Longest file name (the whole relative path), in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 1024;
/// Longest component of a file name, in bytes (the usual `NAME_MAX`).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// One client frame on `/ws` or `/stream/session/:id/execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Authenticate the socket (the first message may instead carry `api_key` itself).
    Auth {
        /// The API key.
        api_key: String,
    },
    /// Run a program.
    Execute(ExecuteRequest),
    /// Feed a running program's stdin.
    Stdin {
        /// The run id.
        id: String,
        /// Text to write (UTF-8); empty with `eof` to only close stdin.
        #[serde(default)]
        data: String,
        /// Close stdin after writing `data`.
        #[serde(default)]
        eof: bool,
        /// The client's number for this write (1, 2, 3, ... per run, or per session for
        /// session runs): each number is applied once, so a client may re-send after a
        /// reconnect what it is not sure arrived. Absent: always applied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stdin_seq: Option<u64>,
    },
    /// Signal a running program.
    Signal {
        /// The run id.
        id: String,
        /// `SIGINT`, `SIGTERM`, `SIGKILL`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`, `SIGUSR2` (with or
        /// without the `SIG` prefix, any case).
        signal: String,
    },
    /// Latency probe, answered by `pong`.
    Ping {
        /// An opaque client value echoed back (usually the client's clock in ms).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        t: Option<serde_json::Value>,
    },
    /// Create a session (a long-lived sandbox with state).
    CreateSession(CreateSessionRequest),
    /// Close a session and free its sandbox.
    CloseSession {
        /// The session id.
        session: String,
    },
    /// Restart a session's interpreter, keeping its files.
    RestartSession {
        /// The session id.
        session: String,
    },
    /// Re-attach after a reconnect: receive every event after `last_seq`, then the live stream.
    Resume {
        /// The session to resume, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        /// The run to resume, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The last sequence number the client saw (0 for none).
        #[serde(default)]
        last_seq: u64,
    },
}

/// `execute`: run a program once, or a snippet in a session.
///
/// Give `code` or `files`, not both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExecuteRequest {
    /// Client-chosen run id (1 to 128 bytes, no control characters); the server makes one when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_ID_BYTES))]
    pub id: Option<String>,
    /// Language id or alias (`python`, `py`, `c++`, ...). Optional in a session.
    #[serde(default)]
    pub language: String,
    /// The program, saved as the language's default source file. Either this or `files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Several files (at most 256); the first one is the main file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_FILES))]
    pub files: Vec<FileSpec>,
    /// Text given to stdin up front.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Program arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra compiler flags, for languages that accept them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compiler_args: Vec<String>,
    /// Requested runtime version: `*` (or absent) for the installed one, or a prefix of its
    /// version (`3` or `3.11` match 3.11.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// WebSocket only: run in this session instead of a fresh sandbox. A socket following the
    /// session gets the events (with the session's `seq`); otherwise `stream` decides between
    /// events and one `result`. Over HTTP, use `POST /api/v1/sessions/{id}/execute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Limits, each capped by the key's maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsSpec>,
    /// Wall-clock limit in seconds (the HTTP seed's `timeout`); `limits.wall_ms` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub timeout: Option<f64>,
    /// Stream `started`/`stdout`/`stderr`/`exit` instead of one `result`.
    #[serde(default)]
    pub stream: bool,
    /// Authentication in the message itself (the seed quickstart does this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// One file of a multi-file program, or of a session upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FileSpec {
    /// Relative path inside the work dir: no leading `/`, no `.` or `..` components, no empty
    /// components, no control characters or `\`; at most 1024 bytes, 255 per component.
    #[schemars(length(min = 1, max = MAX_FILE_NAME_BYTES))]
    pub name: String,
    /// The content, in `encoding`.
    pub content: String,
    /// `utf8` (the default), `base64` or `hex` (any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("examples" = ["utf8", "base64", "hex"]))]
    pub encoding: Option<String>,
}

/// `create_session` (WS) and `POST /api/v1/sessions` (HTTP).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "CreateSession")]
pub struct CreateSessionRequest {
    /// Language id or alias.
    pub language: String,
    /// Client correlation id echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Limits of each execute in the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsSpec>,
    /// Seconds without activity (execute, ping, keystroke) before the session closes; the
    /// server's `--session-idle-timeout` when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::limits::idle_timeout"
    )]
    #[schemars(range(min = 1))]
    pub idle_timeout: Option<u64>,
    /// Authentication in the message itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

impl ClientMessage {
    /// The `api_key` carried inside the message, if any.
    pub fn api_key(&self) -> Option<&str> {
        match self {
            ClientMessage::Auth { api_key } => Some(api_key),
            ClientMessage::Execute(request) => request.api_key.as_deref(),
            ClientMessage::CreateSession(request) => request.api_key.as_deref(),
            _ => None,
        }
    }

    /// The wire name of the action.
    pub fn action(&self) -> &'static str {
        match self {
            ClientMessage::Auth { .. } => "auth",
            ClientMessage::Execute(_) => "execute",
            ClientMessage::Stdin { .. } => "stdin",
            ClientMessage::Signal { .. } => "signal",
            ClientMessage::Ping { .. } => "ping",
            ClientMessage::CreateSession(_) => "create_session",
            ClientMessage::CloseSession { .. } => "close_session",
            ClientMessage::RestartSession { .. } => "restart_session",
            ClientMessage::Resume { .. } => "resume",
        }
    }
}
