//! Engine faults and caller mistakes. A user's program failing is never an error here.

/// Why the engine could not start or take a run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The language is not in the registry or not installed.
    #[error("unknown language `{0}`")]
    UnknownLanguage(String),
    /// The request is malformed (bad file names, empty program, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No such session, service or file (or it belongs to another key).
    #[error("not found: {0}")]
    NotFound(String),
    /// The key already has as many sessions as it may.
    #[error("session limit reached: at most {limit} sessions per key")]
    SessionLimit {
        /// The key's limit.
        limit: u32,
    },
    /// The session holds as many executes (or bytes of them) as it queues.
    #[error(
        "session `{session}` already holds {executes} executes or {bytes} bytes of them, queued or running; send more as they end"
    )]
    QueueFull {
        /// The session.
        session: String,
        /// Most executes queued or running.
        executes: usize,
        /// Most bytes of sources and stdin they hold.
        bytes: usize,
    },
    /// An execute with this id is already queued or running in the session.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The engine is shutting down or out of capacity.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A command could not start in a sandbox whose process slots (`limits.pids`) are all
    /// taken by the processes running there.
    #[error(
        "the sandbox's process limit is reached: every slot of `limits.pids` is taken by a \
         process running there ({0}); end one of them, or ask for a higher limit"
    )]
    ProcessLimit(String),
    /// A session driver did not start its interpreter and say `ready`.
    #[error(
        "the {language} session driver did not start: {reason}{}",
        said_of(said)
    )]
    DriverStart {
        /// The language.
        language: String,
        /// What went wrong.
        reason: DriverStartError,
        /// The start of what the driver wrote on stderr.
        said: String,
    },
    /// The sandbox layer failed.
    #[error("sandbox: {0}")]
    Sandbox(runnel_sandbox::SandboxError),
    /// A file of the engine's own (the compile cache) failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: std::path::PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Why a session driver did not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverStartError {
    /// It did not say `ready` within the start deadline.
    #[error("no `ready` within {} s", .0.as_secs())]
    TimedOut(std::time::Duration),
    /// Its event pipe ended before `ready`: it exited.
    #[error("it exited before `ready`")]
    Ended,
    /// The sandbox started it without its pipes.
    #[error("it started without its pipes")]
    NoPipes,
}

fn said_of(said: &str) -> String {
    if said.is_empty() {
        String::new()
    } else {
        format!("; it said: {said}")
    }
}

impl From<runnel_sandbox::SandboxError> for EngineError {
    fn from(error: runnel_sandbox::SandboxError) -> EngineError {
        match error {
            // No spawner serves: the server cannot make sandboxes now, which the caller did
            // not cause and may retry elsewhere.
            down @ runnel_sandbox::SandboxError::SpawnerDown { .. } => {
                EngineError::Unavailable(down.to_string())
            }
            full if full.is_process_limit() => EngineError::ProcessLimit(full.to_string()),
            other => EngineError::Sandbox(other),
        }
    }
}
