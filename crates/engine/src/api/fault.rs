//! [`Fault`]: an [`EngineError`] (or a refusal) as a value that crosses the boundary, with the
//! kind a gateway maps to its error code and the text it shows.

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::input::StdinRefused;
use crate::log::ReplayGap;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Fault {
    /// What kind of failure.
    pub kind: FaultKind,
    /// For people: what failed and what to do.
    pub message: String,
    /// For [`FaultKind::ReplayGap`]: what was asked and what is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap: Option<ReplayGap>,
}

/// The kinds of [`Fault`], one for each answer a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The language is not installed.
    UnknownLanguage,
    /// The request is malformed.
    InvalidRequest,
    /// No such run, session, service or file for this owner.
    NotFound,
    /// An id already in use.
    Conflict,
    /// The sandbox's process slots are all taken.
    ProcessLimit,
    /// The session holds as many executes as it queues.
    QueueFull,
    /// The owner has as many sessions as it may.
    SessionLimit,
    /// The engine is shutting down or cannot make sandboxes now (retry, elsewhere).
    Unavailable,
    /// A session driver did not start.
    DriverStart,
    /// The run has ended: its stdin is closed, signals go nowhere.
    Ended,
    /// What was sent to stdin before still waits for the program to read it.
    StdinFull,
    /// Events asked for are no longer kept.
    ReplayGap,
    /// The engine failed (a bug, or the host).
    Internal,
}

impl Fault {
    /// A fault of `kind` saying `message`.
    pub fn new(kind: FaultKind, message: impl Into<String>) -> Fault {
        Fault {
            kind,
            message: message.into(),
            gap: None,
        }
    }

    /// `not_found` for `what`.
    pub(crate) fn not_found(what: impl Into<String>) -> Fault {
        Fault::new(FaultKind::NotFound, what)
    }
}

impl From<EngineError> for Fault {
    fn from(error: EngineError) -> Fault {
        let kind = match &error {
            EngineError::UnknownLanguage(_) => FaultKind::UnknownLanguage,
            EngineError::InvalidRequest(message) => {
                return Fault::new(FaultKind::InvalidRequest, message.clone())
            }
            EngineError::NotFound(message) => {
                return Fault::new(FaultKind::NotFound, message.clone())
            }
            EngineError::Conflict(message) => {
                return Fault::new(FaultKind::Conflict, message.clone())
            }
            EngineError::Unavailable(message) => {
                return Fault::new(FaultKind::Unavailable, message.clone())
            }
            EngineError::SessionLimit { .. } => FaultKind::SessionLimit,
            EngineError::QueueFull { .. } => FaultKind::QueueFull,
            EngineError::ProcessLimit(_) => FaultKind::ProcessLimit,
            EngineError::DriverStart { .. } => FaultKind::DriverStart,
            EngineError::Sandbox(_) | EngineError::Io { .. } => {
                return Fault::new(FaultKind::Internal, format!("engine: {error}"))
            }
        };
        Fault::new(kind, error.to_string())
    }
}

impl From<StdinRefused> for Fault {
    fn from(refused: StdinRefused) -> Fault {
        let kind = match refused {
            StdinRefused::Closed => FaultKind::Ended,
            StdinRefused::Full { .. } => FaultKind::StdinFull,
        };
        Fault::new(kind, refused.to_string())
    }
}

impl From<ReplayGap> for Fault {
    fn from(gap: ReplayGap) -> Fault {
        Fault {
            gap: Some(gap),
            ..Fault::new(FaultKind::ReplayGap, gap.to_string())
        }
    }
}
