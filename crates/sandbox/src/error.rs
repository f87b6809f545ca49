//! The crate's error type: one variant per failing step, each naming the path or id involved.

use std::io;
use std::path::PathBuf;

/// Why a sandbox operation failed. User code failing is never an error: see [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The host lacks a required feature.
    #[error("{what} is not available on this host: {fix}")]
    Unsupported {
        /// The missing feature.
        what: String,
        /// How to fix it.
        fix: String,
    },
    /// The spawner process could not be started.
    #[error("start spawner {exe}: {source}")]
    StartSpawner {
        /// The binary that was run.
        exe: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Talking to the spawner failed.
    #[error("spawner channel: {source}")]
    SpawnerChannel {
        /// The cause.
        source: io::Error,
    },
    /// The spawner exited or closed its socket.
    #[error("spawner is gone")]
    SpawnerGone,
    /// No spawner serves: it was shut down, or it died and none could be started again.
    #[error("the sandbox spawner is down: {detail}")]
    SpawnerDown {
        /// Why.
        detail: String,
    },
    /// The spawner reported a failed step.
    #[error("spawner: {step}: {detail}")]
    Spawner {
        /// The step that failed, with the sandbox id or path.
        step: String,
        /// The spawner's description.
        detail: String,
        /// The errno as an error.
        source: io::Error,
    },
    /// Setting up the sandbox inside its namespaces failed.
    #[error("sandbox {id}: setup: {step}: {source}")]
    Setup {
        /// Sandbox id.
        id: String,
        /// The step that failed, with its path.
        step: String,
        /// The cause.
        source: io::Error,
    },
    /// Talking to a sandbox's agent failed.
    #[error("sandbox {id}: agent channel: {source}")]
    AgentChannel {
        /// Sandbox id.
        id: String,
        /// The cause.
        source: io::Error,
    },
    /// The agent died or closed its socket (the sandbox was destroyed).
    #[error("sandbox {id}: agent is gone")]
    AgentGone {
        /// Sandbox id.
        id: String,
    },
    /// The agent sent something it never should (treated as hostile).
    #[error("sandbox {id}: protocol violation: {detail}")]
    Protocol {
        /// Sandbox id.
        id: String,
        /// What was wrong.
        detail: String,
    },
    /// A command could not be started.
    #[error("sandbox {id}: start {program}: {step}: {source}")]
    StartCommand {
        /// Sandbox id.
        id: String,
        /// `argv[0]`.
        program: String,
        /// The step that failed.
        step: String,
        /// The cause.
        source: io::Error,
    },
    /// The command spec was invalid.
    #[error("sandbox {id}: invalid command: {detail}")]
    InvalidCommand {
        /// Sandbox id.
        id: String,
        /// What was wrong.
        detail: String,
    },
    /// A file path given for the work dir was refused.
    #[error("sandbox {id}: invalid path {path:?}: {reason}")]
    InvalidPath {
        /// Sandbox id.
        id: String,
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// Writing a file into the work dir failed.
    #[error("sandbox {id}: write /work/{path}: {source}")]
    WriteFile {
        /// Sandbox id.
        id: String,
        /// Relative path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Reading the work dir failed.
    #[error("sandbox {id}: read /work/{path}: {source}")]
    ReadFile {
        /// Sandbox id.
        id: String,
        /// Relative path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The work dir holds more than the caller accepts.
    #[error("sandbox {id}: /work holds more than {max_bytes} bytes")]
    TreeTooLarge {
        /// Sandbox id.
        id: String,
        /// The limit.
        max_bytes: u64,
    },
    /// The work dir holds more entries than a walk looks at.
    #[error("sandbox {id}: /work holds more than {max_entries} entries")]
    TooManyEntries {
        /// Sandbox id.
        id: String,
        /// The limit.
        max_entries: usize,
    },
    /// Reading a cgroup counter failed.
    #[error("read cgroup file {path}: {source}")]
    ReadCgroup {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// A PTY operation failed.
    #[error("pty {op}: {source}")]
    Pty {
        /// The operation.
        op: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// Wrapping a descriptor for tokio failed.
    #[error("sandbox {id}: register {what} with the runtime: {source}")]
    Register {
        /// Sandbox id.
        id: String,
        /// What was being registered.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
}

impl SandboxError {
    /// Whether a command could not start because the sandbox's process limit is reached:
    /// its `fork` failed with `EAGAIN` (the pids cgroup, or the per-user process limit).
    pub fn is_process_limit(&self) -> bool {
        matches!(
            self,
            SandboxError::StartCommand { source, .. } if source.raw_os_error() == Some(libc::EAGAIN)
        )
    }
}
