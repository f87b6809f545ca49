//! A session's events: what its log ([`crate::log`], dropping the oldest when full) holds.
//! Each gets the next session-wide sequence number, so a client that reconnects can ask for
//! everything after the last number it saw.

use runnel_protocol::{Stage, StreamName};

use crate::log::{Entry, LogEvent, EVENT_OVERHEAD_BYTES};
use crate::run::RunOutcome;

/// One event of a session, with its session-wide sequence number (1 for the first).
pub type SessionEvent = Entry<SessionEventKind>;

/// A reader of a session's events, in order, each exactly once.
pub type Subscription = crate::log::Subscription<SessionEventKind>;

/// A session's log.
pub(crate) type EventLog = crate::log::EventLog<SessionEventKind>;

/// What happened in a session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEventKind {
    /// A run (an execute) began.
    Started {
        /// The run id.
        run: String,
    },
    /// Output of a run. `data` never ends inside a UTF-8 character unless it is not UTF-8.
    Output {
        /// The run id.
        run: String,
        /// Compile or run.
        stage: Stage,
        /// stdout or stderr.
        stream: StreamName,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The run waits for a line of input (`input()` in Python); answer with stdin.
    InputRequest {
        /// The run id.
        run: String,
        /// The prompt the program gave.
        prompt: String,
        /// Whether the input should be hidden.
        password: bool,
    },
    /// A run ended; always the last event of a run.
    Exit {
        /// The run id.
        run: String,
        /// How it ended (for a cell that raised: `runtime_error`, the exception in `message`).
        outcome: RunOutcome,
    },
    /// The interpreter was restarted (state gone, files kept).
    Restarted,
    /// The session ended (closed, expired, or the server stops); always the last event.
    Closed {
        /// `closed`, `expired` or `shutdown`.
        reason: String,
    },
}

impl SessionEventKind {
    /// The run the event belongs to, if any.
    pub fn run(&self) -> Option<&str> {
        match self {
            SessionEventKind::Started { run }
            | SessionEventKind::Output { run, .. }
            | SessionEventKind::InputRequest { run, .. }
            | SessionEventKind::Exit { run, .. } => Some(run),
            SessionEventKind::Restarted | SessionEventKind::Closed { .. } => None,
        }
    }
}

impl LogEvent for SessionEventKind {
    fn is_last(&self) -> bool {
        matches!(self, SessionEventKind::Closed { .. })
    }

    fn cost(&self) -> usize {
        EVENT_OVERHEAD_BYTES
            + match self {
                SessionEventKind::Output { data, .. } => data.len(),
                SessionEventKind::InputRequest { prompt, .. } => prompt.len(),
                _ => 0,
            }
    }
}
