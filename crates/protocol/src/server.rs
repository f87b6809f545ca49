//! Messages from the server, tagged by `type`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::status::{ErrorCode, RunStatus, Stage};

/// One server frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The whole outcome of a non-streamed run.
    Result(ResultMessage),
    /// A streamed run has been accepted and is starting.
    Started(StartedMessage),
    /// A chunk of standard output.
    Stdout(OutputChunk),
    /// A chunk of standard error.
    Stderr(OutputChunk),
    /// The program waits for a line of input (sessions with a REPL driver).
    InputRequest(InputRequestMessage),
    /// The end of a streamed run.
    Exit(ExitMessage),
    /// Reply to `ping`.
    Pong(PongMessage),
    /// A session was created, restarted, closed or resumed.
    Session(SessionMessage),
    /// A streamed one-shot run was re-attached by `resume`; its events after `last_seq` follow.
    Resumed(ResumedMessage),
    /// A protocol error; the connection stays up unless the code is `unauthorized`.
    Error(ErrorMessage),
}

/// `result`: everything about a finished run, in one message (the body of `POST
/// /api/v1/execute` too, where it has no `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Result")]
pub struct ResultMessage {
    /// The run id.
    pub id: String,
    /// The language id that ran.
    pub language: String,
    /// The runtime's version.
    pub version: String,
    /// Standard output of the run stage (lossy UTF-8), up to the output limit.
    pub stdout: String,
    /// Standard error of the run stage (lossy UTF-8), up to the output limit.
    pub stderr: String,
    /// Output of the compile stage, stdout and stderr merged, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_output: Option<String>,
    /// Exit code, when the program exited.
    pub exit_code: Option<i32>,
    /// Signal name (`SIGKILL`, ...), when a signal ended the program.
    pub signal: Option<String>,
    /// How the run ended.
    pub status: RunStatus,
    /// Wall time of the run stage in milliseconds.
    pub execution_time: f64,
    /// Wall time of the compile stage in milliseconds (0 on a cache hit or without one).
    #[serde(default)]
    pub compile_time: f64,
    /// Whether the compiled program came from the compile cache: this key compiled the same
    /// sources before (the cache is per key; see docs/security.md).
    #[serde(default)]
    pub cached: bool,
    /// CPU time of the run stage in milliseconds.
    pub cpu_time: f64,
    /// Peak memory of the run stage in bytes.
    pub memory: u64,
    /// Whether the output was cut at the output limit.
    #[serde(default)]
    pub truncated: bool,
    /// A detail for people (which limit, what failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `started`: a streamed run was accepted and is starting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "StartedEvent")]
pub struct StartedMessage {
    /// The run id.
    pub id: String,
    /// The language id.
    pub language: String,
    /// The runtime's version.
    pub version: String,
    /// The session, for runs in a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Sequence number of this event (1 for a one-shot run's `started`).
    pub seq: u64,
}

/// `stdout` / `stderr` chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutputChunk {
    /// The run id.
    pub id: String,
    /// The text; never splits a UTF-8 character. Base64 when `encoding` is `base64`.
    pub data: String,
    /// Sequence number of this event within the run (or session).
    pub seq: u64,
    /// `compile` for compiler output; absent for the program's own output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// `base64` when the bytes were not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["base64", null]))]
    pub encoding: Option<String>,
    /// The session, for runs in a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// `input_request`: the program waits for input (with the prompt it printed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputRequestMessage {
    /// The run id.
    pub id: String,
    /// The prompt.
    pub prompt: String,
    /// Whether the input should be hidden.
    #[serde(default)]
    pub password: bool,
    /// Sequence number.
    pub seq: u64,
    /// The session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// `exit`: the end of a streamed run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ExitEvent")]
pub struct ExitMessage {
    /// The run id.
    pub id: String,
    /// Exit code, when the program exited.
    pub exit_code: Option<i32>,
    /// Signal name, when a signal ended the program.
    pub signal: Option<String>,
    /// How the run ended.
    pub status: RunStatus,
    /// Wall time of the run stage in milliseconds.
    pub execution_time: f64,
    /// Wall time of the compile stage in milliseconds.
    #[serde(default)]
    pub compile_time: f64,
    /// Whether the compiled program came from the compile cache (per key).
    #[serde(default)]
    pub cached: bool,
    /// CPU time in milliseconds.
    pub cpu_time: f64,
    /// Peak memory in bytes.
    pub memory: u64,
    /// Whether output was cut at the output limit.
    #[serde(default)]
    pub truncated: bool,
    /// A detail for people (which limit, what failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last sequence number of the run.
    pub seq: u64,
    /// The session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// `pong`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PongMessage {
    /// The client's `t`, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<serde_json::Value>,
    /// Server time, ms since the Unix epoch.
    pub server_time: f64,
}

/// `session`: the state of a session after an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionMessage {
    /// The client's correlation id, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The session id.
    pub session: String,
    /// `created`, `restarted`, `resumed`; or why it ended: `closed`, `expired` (idle),
    /// `cpu_limit` (its CPU budget), `shutdown` (the server stops).
    #[schemars(extend("examples" = ["created", "restarted", "resumed", "closed", "expired", "cpu_limit", "shutdown"]))]
    pub event: String,
    /// The language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Services for `/stream/session/:id/pty?app=`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// The last sequence number of the session.
    #[serde(default)]
    pub seq: u64,
    /// On `resumed`: the highest `stdin_seq` applied in the session (0 for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_seq: Option<u64>,
}

/// `resumed`: a streamed one-shot run re-attached to this socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResumedMessage {
    /// The run id.
    pub id: String,
    /// The newest sequence number of the run so far.
    pub seq: u64,
    /// The highest `stdin_seq` applied to the run (0 for none): re-send the writes after it.
    pub stdin_seq: u64,
}

/// `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorMessage {
    /// The named error.
    pub code: ErrorCode,
    /// What was wrong, for a person.
    pub message: String,
    /// The run or request id the error is about, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ServerMessage {
    /// The wire `type` of the message (also the SSE event name).
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMessage::Result(_) => "result",
            ServerMessage::Started(_) => "started",
            ServerMessage::Stdout(_) => "stdout",
            ServerMessage::Stderr(_) => "stderr",
            ServerMessage::InputRequest(_) => "input_request",
            ServerMessage::Exit(_) => "exit",
            ServerMessage::Pong(_) => "pong",
            ServerMessage::Session(_) => "session",
            ServerMessage::Resumed(_) => "resumed",
            ServerMessage::Error(_) => "error",
        }
    }

    /// An error message.
    pub fn error(code: ErrorCode, message: impl Into<String>, id: Option<String>) -> Self {
        ServerMessage::Error(ErrorMessage {
            code,
            message: message.into(),
            id,
        })
    }

    /// Serialize to a JSON text frame.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail: no maps with non-string keys, no
        // custom serializers that error.
        serde_json::to_string(self).unwrap_or_else(|error| {
            format!(r#"{{"type":"error","code":"internal_error","message":"serialize: {error}"}}"#)
        })
    }
}
