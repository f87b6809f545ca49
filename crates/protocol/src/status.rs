//! Run statuses, stages and error codes: the closed sets that clients switch on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a run ended. User programs failing is a status, never a protocol error.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The program exited with code 0.
    Ok,
    /// The compile step failed; its output is in the compile stage's stdout/stderr.
    CompileError,
    /// The program exited non-zero or was killed by a signal of its own making.
    RuntimeError,
    /// The wall-clock limit ended the run.
    Timeout,
    /// The CPU-time limit ended the run.
    CpuLimit,
    /// The memory limit ended the run.
    MemoryLimit,
    /// The output limit ended the run.
    OutputLimit,
    /// The run was killed on request (a `signal` message, a closed session or connection).
    Killed,
    /// The engine failed; the message says why. Never caused by the user's program.
    InternalError,
}

impl RunStatus {
    /// All statuses, in declaration order.
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Ok,
        RunStatus::CompileError,
        RunStatus::RuntimeError,
        RunStatus::Timeout,
        RunStatus::CpuLimit,
        RunStatus::MemoryLimit,
        RunStatus::OutputLimit,
        RunStatus::Killed,
        RunStatus::InternalError,
    ];

    /// The wire name of the status, as used in JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::CompileError => "compile_error",
            RunStatus::RuntimeError => "runtime_error",
            RunStatus::Timeout => "timeout",
            RunStatus::CpuLimit => "cpu_limit",
            RunStatus::MemoryLimit => "memory_limit",
            RunStatus::OutputLimit => "output_limit",
            RunStatus::Killed => "killed",
            RunStatus::InternalError => "internal_error",
        }
    }
}

/// The step of a run that produced some output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The compile (or transpile) step of a compiled language.
    Compile,
    /// The program itself.
    Run,
}

/// Which output stream a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamName {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Named protocol errors (`{"type":"error","code":...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON or not a valid message; `message` names what was wrong.
    BadRequest,
    /// No key, a wrong key or a revoked key.
    Unauthorized,
    /// No authentication arrived in time after connecting.
    AuthTimeout,
    /// The key is valid but may not do this (server-wide figures need an operator key).
    Forbidden,
    /// The language is not known or not installed on this host.
    UnknownLanguage,
    /// A frame, file or request body is over the configured size.
    PayloadTooLarge,
    /// The key has too many runs in flight (or connections open).
    ConcurrencyLimit,
    /// The key sent too many requests in the current window.
    RateLimited,
    /// A run, session or file that does not exist (or belongs to another key).
    NotFound,
    /// A run id that is already in use on this connection.
    Conflict,
    /// Too many sessions for this key.
    SessionLimit,
    /// `resume` asked for events the session no longer keeps (its replay buffer was trimmed).
    ResumeGap,
    /// The server is shutting down or out of capacity.
    Unavailable,
    /// The engine failed; details are in the server's log.
    InternalError,
}

impl ErrorCode {
    /// The wire name of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::AuthTimeout => "auth_timeout",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UnknownLanguage => "unknown_language",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::ConcurrencyLimit => "concurrency_limit",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::SessionLimit => "session_limit",
            ErrorCode::ResumeGap => "resume_gap",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InternalError => "internal_error",
        }
    }

    /// The HTTP status that goes with the code on the HTTP API.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::UnknownLanguage => 400,
            ErrorCode::Unauthorized | ErrorCode::AuthTimeout => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::ResumeGap => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ConcurrencyLimit | ErrorCode::RateLimited | ErrorCode::SessionLimit => 429,
            ErrorCode::Unavailable => 503,
            ErrorCode::InternalError => 500,
        }
    }
}
