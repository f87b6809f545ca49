//! The engine's API as one typed boundary: every request a caller makes ([`Request`]), every
//! answer ([`Reply`] or a [`Fault`]) and every event it follows ([`Follow`], [`Event`]), as
//! values that serialize. The same boundary is carried in-process (a [`Service`] called
//! directly) or over a message bus ([`codec`]: MessagePack), so a gateway on one machine can
//! drive an engine on another through exactly the operations it uses at home.
//!
//! The types inside are the engine's own domain types ([`RunRequest`], [`RunEvent`],
//! [`SessionEventKind`], ...); the client protocol (`runnel-protocol`'s messages) is converted
//! at the gateway's edge, never here.
//!
//! # What a caller does
//! - Start a one-shot run ([`Request::Run`]); the [`Service`] keeps it by its owner and id.
//!   Follow its log from any `seq` ([`Follow`]) as often as needed (a reconnected client);
//!   feed it stdin or signals ([`Request::RunInput`]); say when it is no longer wanted
//!   ([`Request::Forget`]: a live run is killed). A finished run is kept for
//!   [`FINISHED_RUN_KEPT`] after its `exit`, so that a follower who lost the `exit` can read it.
//! - Create a session ([`Request::CreateSession`]) and address it afterwards by owner and id
//!   ([`Request::Session`] with a [`SessionOp`]): execute, stdin, signals, restart, files,
//!   close. Its log is followed like a run's.
//! - Ask what the engine has: its languages and its health.
//!
//! Every request names its owner (a key id); a run or session of another owner is
//! `not_found`, exactly as if it did not exist.

pub mod codec;
mod fault;
mod service;

pub use fault::{Fault, FaultKind};
pub use service::{Follower, Service, FINISHED_RUN_KEPT};

use runnel_protocol::http::{HealthResponse, LanguageInfo};
use serde::{Deserialize, Serialize};

use crate::log::Entry;
use crate::run::{RunEvent, RunRequest, Signal, SourceFile};
use crate::session::{CreateSession, FileListing, SessionEventKind, SessionInfo, SessionRun};

/// A request to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Start a one-shot run (its owner is [`RunRequest::owner`]). Replies [`Reply::Run`];
    /// `conflict` while the owner has a live run of that id.
    Run(RunRequest),
    /// Stdin or a signal for one of `owner`'s runs. Replies [`Reply::Done`], or
    /// [`Reply::Duplicate`] for a `stdin_seq` already applied.
    RunInput {
        /// The key id the run belongs to.
        owner: String,
        /// The run id.
        run: String,
        /// What to deliver.
        input: Input,
        /// The client's number for this stdin, so a write re-sent after a reconnect applies
        /// once.
        stdin_seq: Option<u64>,
    },
    /// The caller no longer wants run `run`: it is killed if it still runs (ending `killed`,
    /// its `exit` in its log for whoever follows it), and no longer kept. Replies
    /// [`Reply::Done`], also when there was no such run.
    Forget {
        /// The key id the run belongs to.
        owner: String,
        /// The run id.
        run: String,
    },
    /// One of `owner`'s runs, live or kept after its end. Replies [`Reply::Run`];
    /// `not_found` when there is none (a gateway asks every node this to find a run).
    DescribeRun {
        /// The key id the run belongs to.
        owner: String,
        /// The run id.
        run: String,
    },
    /// Create a session for `owner`, who may have at most `max_sessions` (0: no limit).
    /// Replies [`Reply::Session`].
    CreateSession {
        /// The key id the session will belong to.
        owner: String,
        /// Most sessions the owner may have.
        max_sessions: u32,
        /// What to create.
        request: CreateSession,
    },
    /// Something to do with one of `owner`'s sessions.
    Session {
        /// The key id the session belongs to.
        owner: String,
        /// The session id.
        session: String,
        /// What to do.
        op: SessionOp,
    },
    /// Every session of `owner`. Replies [`Reply::Sessions`].
    ListSessions {
        /// The key id.
        owner: String,
    },
    /// The session of `owner` that holds execute `run` (queued or running), for a client
    /// that names only the run. Replies [`Reply::Session`].
    SessionOfRun {
        /// The key id.
        owner: String,
        /// The execute's id.
        run: String,
    },
    /// The installed languages. Replies [`Reply::Languages`].
    Languages,
    /// The engine's real state. Replies [`Reply::Health`].
    Health,
}

/// What to do with a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOp {
    /// Replies [`Reply::Session`].
    Describe,
    /// Keep it from expiring. Replies [`Reply::Done`].
    Touch,
    /// Queue an execute; its events arrive in the session's log. Replies [`Reply::Done`].
    Execute(SessionRun),
    /// Stdin or a signal for execute `run`, or for the execute running now when `run` is
    /// `None`. Replies [`Reply::Done`], or [`Reply::Duplicate`] for a `stdin_seq` already
    /// applied.
    Input {
        /// The execute, or the one running.
        run: Option<String>,
        /// What to deliver.
        input: Input,
        /// The client's number for this stdin (see [`Request::RunInput`]).
        stdin_seq: Option<u64>,
    },
    /// A fresh interpreter (state gone, files kept). Replies [`Reply::Done`].
    Restart,
    /// Write files under `/work`. Replies [`Reply::Done`].
    Upload(Vec<SourceFile>),
    /// List `/work`. Replies [`Reply::Files`].
    ListFiles,
    /// Read at most `len` bytes (and at most [`MAX_FILE_CHUNK`]) of file `path` from
    /// `offset`. Replies [`Reply::File`]; `not_found` when there is no such regular file.
    Download {
        /// Path relative to `/work`.
        path: String,
        /// Where to start.
        offset: u64,
        /// Most bytes wanted.
        len: u64,
    },
    /// Close it. Replies [`Reply::Done`].
    Close,
}

/// Most bytes of a file one [`SessionOp::Download`] returns: a bus message stays small, and a
/// large file comes in several.
pub const MAX_FILE_CHUNK: u64 = 256 * 1024;

/// Stdin or a signal for a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// Bytes for the program's stdin, closed after them when `eof`.
    Stdin {
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
        /// Close stdin after.
        eof: bool,
    },
    /// A signal.
    Signal(Signal),
}

/// The answer to a [`Request`] that succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Done.
    Done,
    /// Skipped: stdin with a `stdin_seq` already applied (a client re-sending after a
    /// reconnect).
    Duplicate,
    /// A run started.
    Run(RunStarted),
    /// A session.
    Session(SessionInfo),
    /// Sessions.
    Sessions(Vec<SessionInfo>),
    /// A listing of `/work`.
    Files(FileListing),
    /// Part of a file.
    File(FileChunk),
    /// The installed languages.
    Languages(Vec<LanguageInfo>),
    /// The engine's state.
    Health(HealthResponse),
}

/// A run the engine took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStarted {
    /// The run id.
    pub id: String,
    /// The resolved language id.
    pub language: String,
    /// The runtime's version.
    pub version: String,
}

/// Part of a session's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChunk {
    /// The file's size when it was opened.
    pub size: u64,
    /// Where `data` starts.
    pub offset: u64,
    /// The bytes (empty at or past the end).
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// The answer to a [`Request`].
pub type Response = Result<Reply, Fault>;

/// Follow a run's or a session's log: every event after `after` still kept, then the live
/// ones, until the last (a run's `exit`, a session's `closed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follow {
    /// The key id the log's run or session belongs to.
    pub owner: String,
    /// Whose log.
    pub log: LogId,
    /// The last `seq` the follower has (0 for everything).
    pub after: u64,
}

/// A run's or a session's log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogId {
    /// A one-shot run, by run id.
    Run(String),
    /// A session, by session id.
    Session(String),
}

/// One event of a followed log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A run's.
    Run(Entry<RunEvent>),
    /// A session's.
    Session(Entry<SessionEventKind>),
}

impl Event {
    /// Its sequence number in its log.
    pub fn seq(&self) -> u64 {
        match self {
            Event::Run(entry) => entry.seq,
            Event::Session(entry) => entry.seq,
        }
    }
}
