//! Bodies of the HTTP API (`/api/v1/*`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One installed language, as listed by `GET /api/v1/languages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LanguageInfo {
    /// The id (`python`).
    pub id: String,
    /// Display name (`Python`).
    pub name: String,
    /// The runtime's real version on this host.
    pub version: String,
    /// Aliases (`py`, `python3`).
    pub aliases: Vec<String>,
    /// Whether a compile step runs before the program.
    pub compiled: bool,
    /// Whether sessions keep interpreter state (a REPL driver).
    pub repl: bool,
    /// Source file name of single-file programs.
    pub source_file: String,
}

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Stats")]
pub struct StatsResponse {
    /// Seconds since the server started.
    pub uptime_seconds: f64,
    /// Runs finished since start, all statuses.
    pub executions: u64,
    /// Runs in flight.
    pub running: u64,
    /// Open WebSocket connections.
    pub connections: u64,
    /// Live sessions.
    pub sessions: u64,
    /// Number of installed languages.
    pub languages: u64,
    /// Runs per language since start.
    pub executions_by_language: std::collections::BTreeMap<String, u64>,
    /// Server version.
    pub version: String,
}

/// Error body of every HTTP error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HttpError {
    /// The named error, as on the WebSocket.
    pub error: crate::status::ErrorCode,
    /// What was wrong.
    pub message: String,
}

/// `GET /healthz`: the engine's real state. HTTP 200 while `ready` or `degraded`, 503 when
/// `down`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HealthResponse {
    /// `ready`, `degraded` (serving, with the problems listed) or `down` (runs cannot start).
    pub status: HealthStatus,
    /// What is wrong, most serious first; empty when `ready`.
    pub problems: Vec<HealthProblem>,
    /// Times the sandbox spawner died and was replaced since the server started.
    pub spawner_restarts: u64,
}

/// The state `GET /healthz` reports.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Everything works.
    Ready,
    /// Runs work, but a part is failing or recovering (see the problems).
    Degraded,
    /// Runs cannot start: the spawner cannot be started again, or the server is stopping.
    Down,
}

impl HealthStatus {
    /// The wire name (`ready`, `degraded`, `down`).
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ready => "ready",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Down => "down",
        }
    }
}

/// One thing `GET /healthz` found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthProblem {
    /// The part: `server`, `spawner`, `pool` (warm sandboxes for runs), `session_pool`,
    /// `cache` (compile cache writes), `history` (run history writes).
    #[schemars(extend("examples" = ["server", "spawner", "pool", "session_pool", "cache", "history"]))]
    pub component: String,
    /// How bad it is for that part: `degraded` or `down`.
    pub status: HealthStatus,
    /// What is wrong, for a person.
    pub detail: String,
}
