//! Messages from a client, tagged by `action`.

use serde::{Deserialize, Serialize};

use crate::limits::LimitsSpec;

/// One client frame on `/ws` or `/stream/session/:id/execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    /// Client-chosen run id; the server makes one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Language id or alias (`python`, `py`, `c++`, ...). Optional in a session.
    #[serde(default)]
    pub language: String,
    /// The program. Either this or `files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Several files; the first one is the main file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
    /// Requested runtime version (`*` or absent for the installed one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Run in this session instead of a fresh sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Limits, capped by the key's maximums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsSpec>,
    /// Wall-clock limit in seconds (the HTTP seed's `timeout`); `limits.wall_ms` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Stream `started`/`stdout`/`stderr`/`exit` instead of one `result`.
    #[serde(default)]
    pub stream: bool,
    /// Authentication in the message itself (the seed quickstart does this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// One file of a multi-file program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSpec {
    /// Relative path inside the work dir (no `..`, no absolute paths).
    pub name: String,
    /// The content, in `encoding`.
    pub content: String,
    /// `utf8` (default), `base64` or `hex`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
}

/// `create_session` (WS) and `POST /api/v1/sessions` (HTTP).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateSessionRequest {
    /// Language id or alias.
    pub language: String,
    /// Client correlation id echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Limits of each execute in the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitsSpec>,
    /// Idle timeout in seconds; `ping` and executes keep it off.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::limits::idle_timeout"
    )]
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
