//! The seam between the engine and whatever makes its sandboxes: a [`Backend`] creates
//! [`Sandbox`]es, a sandbox holds files and starts [`Process`]es, a [`Meter`] reads its
//! counters. The engine only ever holds these types, never the sandbox crate's directly.
//!
//! - `real`: the kernel sandbox ([`runnel_sandbox::Spawner`]), what the server runs.
//! - `fake` (tests only): sandboxes whose programs are async Rust functions on real pipes,
//!   so that the executor, the pools, sessions, limits and resume are tested in milliseconds,
//!   with tokio's clock paused, without root.
//!
//! The traits take and return the sandbox crate's plain data types ([`SandboxSpec`],
//! [`CommandSpec`], [`FileEntry`], [`Outcome`], [`Counters`]) and its [`SandboxError`]: a
//! backend reports the same errors, so the engine maps them to statuses in one place.

#[cfg(test)]
pub(crate) mod fake;
mod real;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use runnel_sandbox::{
    CommandSpec, Counters, ExtraEnd, FileEntry, Outcome, PtyMaster, SandboxError, SandboxSpec,
    SpawnerHealth, TreeListing,
};
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::Instant;

/// The program's working directory (and `HOME`) inside every sandbox.
pub(crate) const WORK_DIR: &str = "/work";

/// A boxed future, as the object-safe traits here return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Makes sandboxes, and says how the part that makes them is doing.
pub trait Backend: Send + Sync + 'static {
    /// A new, empty sandbox made to `spec`.
    fn create<'a>(&'a self, spec: &'a SandboxSpec) -> BoxFuture<'a, Result<Sandbox, SandboxError>>;
    /// How the backend is doing now.
    fn health(&self) -> SpawnerHealth;
    /// Every change of [`Backend::health`].
    fn watch_health(&self) -> watch::Receiver<SpawnerHealth>;
    /// Times the backend's process died and was replaced.
    fn restarts(&self) -> u64;
    /// The process id of what makes the sandboxes, where one process does.
    fn pid(&self) -> Option<u32>;
    /// Kill every sandbox still alive and stop.
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

/// What a sandbox of some backend can do; the engine holds it as a [`Sandbox`].
pub trait SandboxOps: Send + Sync + fmt::Debug {
    /// Whether the backend process that made this sandbox died (and the sandbox with it).
    fn spawner_lost(&self) -> bool;
    /// Writes files under `/work`; a symlink on a path makes the write fail.
    fn write_files<'a>(&'a self, files: &'a [FileEntry])
        -> BoxFuture<'a, Result<(), SandboxError>>;
    /// The regular files under `/work` that `keep` accepts, at most `max_bytes` in total.
    fn read_tree_matching(
        &self,
        max_bytes: u64,
        keep: Box<dyn Fn(&str) -> bool + Send + 'static>,
    ) -> BoxFuture<'_, Result<Vec<FileEntry>, SandboxError>>;
    /// The regular files under `/work`, stat'ed and not read.
    fn list_tree(&self) -> BoxFuture<'_, Result<TreeListing, SandboxError>>;
    /// The regular file at `path`, opened for reading, with its size; `None` if absent.
    fn open_file<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<(std::fs::File, u64)>, SandboxError>>;
    /// Changes the memory and pids limits.
    fn set_limits(&self, memory_bytes: u64, pids: u32) -> BoxFuture<'_, Result<(), SandboxError>>;
    /// A handle on the sandbox's counters that outlives a borrow of it.
    fn meter(&self) -> Meter;
    /// Starts a command.
    fn start<'a>(
        &'a self,
        command: &'a CommandSpec,
    ) -> BoxFuture<'a, Result<Process, SandboxError>>;
    /// Kills everything in the sandbox and removes it.
    fn destroy(self: Box<Self>) -> BoxFuture<'static, Result<(), SandboxError>>;
}

/// One sandbox. Dropping it without [`Sandbox::destroy`] destroys it in the background.
#[derive(Debug)]
pub struct Sandbox {
    ops: Box<dyn SandboxOps>,
}

impl Sandbox {
    /// Wraps a backend's sandbox.
    pub fn new(ops: impl SandboxOps + 'static) -> Sandbox {
        Sandbox { ops: Box::new(ops) }
    }

    /// See [`SandboxOps::spawner_lost`].
    pub fn spawner_lost(&self) -> bool {
        self.ops.spawner_lost()
    }

    /// See [`SandboxOps::write_files`].
    pub async fn write_files(&self, files: &[FileEntry]) -> Result<(), SandboxError> {
        self.ops.write_files(files).await
    }

    /// Every regular file under `/work`, at most `max_bytes` in total.
    pub async fn read_tree(&self, max_bytes: u64) -> Result<Vec<FileEntry>, SandboxError> {
        self.ops
            .read_tree_matching(max_bytes, Box::new(|_| true))
            .await
    }

    /// See [`SandboxOps::read_tree_matching`].
    pub async fn read_tree_matching(
        &self,
        max_bytes: u64,
        keep: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<Vec<FileEntry>, SandboxError> {
        self.ops.read_tree_matching(max_bytes, Box::new(keep)).await
    }

    /// See [`SandboxOps::list_tree`].
    pub async fn list_tree(&self) -> Result<TreeListing, SandboxError> {
        self.ops.list_tree().await
    }

    /// See [`SandboxOps::open_file`].
    pub async fn open_file(
        &self,
        path: &str,
    ) -> Result<Option<(std::fs::File, u64)>, SandboxError> {
        self.ops.open_file(path).await
    }

    /// See [`SandboxOps::set_limits`].
    pub async fn set_limits(&self, memory_bytes: u64, pids: u32) -> Result<(), SandboxError> {
        self.ops.set_limits(memory_bytes, pids).await
    }

    /// The sandbox's counters now.
    pub fn counters(&self) -> Result<Counters, SandboxError> {
        self.ops.meter().counters()
    }

    /// See [`SandboxOps::meter`].
    pub fn meter(&self) -> Meter {
        self.ops.meter()
    }

    /// See [`SandboxOps::start`].
    pub async fn start(&self, command: &CommandSpec) -> Result<Process, SandboxError> {
        self.ops.start(command).await
    }

    /// See [`SandboxOps::destroy`].
    pub async fn destroy(self) -> Result<(), SandboxError> {
        self.ops.destroy().await
    }
}

/// Reads one sandbox's counters.
pub trait MeterOps: Send + Sync + fmt::Debug {
    /// OOM kills, pids-limit hits, memory peak, CPU time.
    fn counters(&self) -> Result<Counters, SandboxError>;
    /// The CPU time every process of the sandbox used so far.
    fn cpu_usage(&self) -> Result<Duration, SandboxError>;
    /// Start the memory peak again from the current use; `false` where the backend cannot.
    fn reset_memory_peak(&self) -> Result<bool, SandboxError>;
}

/// A handle that reads one sandbox's counters without holding the sandbox; reads fail once
/// the sandbox is gone.
#[derive(Debug, Clone)]
pub struct Meter {
    ops: Arc<dyn MeterOps>,
}

impl Meter {
    /// Wraps a backend's meter.
    pub fn new(ops: impl MeterOps + 'static) -> Meter {
        Meter { ops: Arc::new(ops) }
    }

    /// See [`MeterOps::counters`].
    pub fn counters(&self) -> Result<Counters, SandboxError> {
        self.ops.counters()
    }

    /// See [`MeterOps::cpu_usage`].
    pub fn cpu_usage(&self) -> Result<Duration, SandboxError> {
        self.ops.cpu_usage()
    }

    /// See [`MeterOps::reset_memory_peak`].
    pub fn reset_memory_peak(&self) -> Result<bool, SandboxError> {
        self.ops.reset_memory_peak()
    }
}

/// Signals and waits for one started command.
pub trait ProcessControl: Send + Sync + fmt::Debug {
    /// Sends `signal` to the command's process group.
    fn signal(&self, signal: i32) -> Result<(), SandboxError>;
    /// Waits for the command to exit; at `deadline` it is killed and the outcome says
    /// [`runnel_sandbox::LimitHit::Wall`]. Cancel-safe; later calls return the same outcome.
    fn wait(&mut self, deadline: Option<Instant>) -> BoxFuture<'_, Result<Outcome, SandboxError>>;
}

/// A command running in a sandbox: the host's ends of its stdio and extra pipes, and its
/// control.
#[derive(Debug)]
pub struct Process {
    /// The command's stdin (pipes mode).
    pub stdin: Option<pipe::Sender>,
    /// The command's stdout (pipes mode).
    pub stdout: Option<pipe::Receiver>,
    /// The command's stderr (pipes mode).
    pub stderr: Option<pipe::Receiver>,
    /// The terminal (pty mode).
    pub pty: Option<PtyMaster>,
    /// One per [`CommandSpec::extra_pipes`], in order; fds 3, 4, ... of the command.
    pub extra: Vec<ExtraEnd>,
    control: Box<dyn ProcessControl>,
}

impl Process {
    /// A process from its ends and its control.
    pub fn new(
        stdin: Option<pipe::Sender>,
        stdout: Option<pipe::Receiver>,
        stderr: Option<pipe::Receiver>,
        pty: Option<PtyMaster>,
        extra: Vec<ExtraEnd>,
        control: impl ProcessControl + 'static,
    ) -> Process {
        Process {
            stdin,
            stdout,
            stderr,
            pty,
            extra,
            control: Box::new(control),
        }
    }

    /// See [`ProcessControl::signal`].
    pub fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        self.control.signal(signal)
    }

    /// See [`ProcessControl::wait`].
    pub async fn wait(&mut self, deadline: Option<Instant>) -> Result<Outcome, SandboxError> {
        self.control.wait(deadline).await
    }
}
