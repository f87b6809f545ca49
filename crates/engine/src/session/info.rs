//! [`SessionInfo`]: what a session is, in one value, for a listing or for the engine's
//! boundary ([`crate::api`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SessionHandle;

/// A session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session id.
    pub id: String,
    /// The language id.
    pub language: String,
    /// The runtime's version.
    pub version: String,
    /// Whether interpreter state persists across executes.
    pub stateful: bool,
    /// Services for terminals (`shell`, and the language's REPL when it has one).
    pub services: Vec<String>,
    /// The last sequence number of its events.
    pub last_seq: u64,
    /// The highest client stdin number applied (0 for none).
    pub stdin_seq: u64,
    /// The idle timeout.
    pub idle_timeout: Duration,
    /// How long since its last activity (zero while a run is in flight).
    pub idle_for: Duration,
    /// The id of the execute in flight, if any.
    pub running: Option<String>,
}

impl SessionHandle {
    /// The session as its owner sees it, now.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            id: self.id().to_owned(),
            language: self.language().to_owned(),
            version: self.version().to_owned(),
            stateful: self.stateful(),
            services: self.services(),
            last_seq: self.last_seq(),
            stdin_seq: self.stdin_seq(),
            idle_timeout: self.idle_timeout(),
            idle_for: self.idle_for(),
            running: self.running(),
        }
    }
}
