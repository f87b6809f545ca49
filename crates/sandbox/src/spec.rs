//! Plain data describing a sandbox, a command inside it, and how a command ended.

use std::path::PathBuf;
use std::time::Duration;

/// A host directory or file made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bind {
    /// Host path (absolute). Binds of paths that do not exist on the host are skipped.
    pub source: PathBuf,
    /// Path inside the sandbox (absolute); usually the same as `source`.
    pub target: PathBuf,
}

impl Bind {
    /// A read-only bind at the same path inside as outside.
    pub fn same(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        Bind {
            source: path.clone(),
            target: path,
        }
    }
}

/// What one sandbox gets: the resources of its cgroup and the shape of its filesystem.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SandboxSpec {
    /// Read-only binds in addition to the base system dirs (`/usr`, `/lib*`, `/bin`, ...):
    /// toolchains outside `/usr`, such as `/opt/langs` or a rustup toolchain.
    pub binds: Vec<Bind>,
    /// Memory limit of the whole sandbox in bytes (no swap), tmpfs pages included.
    pub memory_bytes: u64,
    /// Maximum processes plus threads of the commands (the sandbox's own init, its agent, is
    /// counted on top).
    pub pids: u32,
    /// CPU bandwidth in CPUs (1.0 = one core), if limited.
    pub cpus: Option<f64>,
    /// Size of the tmpfs mounted at `/work` (the program's cwd and `HOME`).
    pub work_bytes: u64,
    /// Size of the tmpfs mounted at `/tmp`.
    pub tmp_bytes: u64,
}

/// How a command's stdio is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StdioMode {
    /// Three pipes: stdin, and stdout and stderr kept apart.
    Pipes,
    /// A pseudo-terminal allocated inside the sandbox's own devpts, the command's controlling
    /// terminal; stdout and stderr are merged, as in a real terminal.
    Pty {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

/// A command to start inside an existing sandbox.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CommandSpec {
    /// `argv[0]` must be an absolute path (nothing searches the host's `PATH`).
    pub argv: Vec<String>,
    /// The complete environment; nothing of the server's environment is inherited.
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox.
    pub cwd: String,
    /// Pipes or a PTY.
    pub stdio: StdioMode,
    /// `RLIMIT_CPU` for each process of the command (the backstop of the CPU limit).
    pub cpu_time: Option<Duration>,
    /// `RLIMIT_FSIZE`: the largest file the command may write.
    pub file_size: u64,
    /// Extra file descriptors: `fd_count` more pipes after stdio (3, 4, ...) whose other ends
    /// come back in [`crate::Process::extra`] (a control channel for REPL drivers and warm starts).
    pub extra_pipes: Vec<ExtraPipe>,
}

/// Direction of an extra pipe, seen from the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExtraPipe {
    /// The command reads it; the host writes.
    Read,
    /// The command writes it; the host reads.
    Write,
}

/// Which limit ended a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LimitHit {
    /// The wall-clock deadline.
    Wall,
    /// `RLIMIT_CPU` (SIGXCPU or the hard limit's SIGKILL).
    Cpu,
    /// The memory cgroup's OOM killer.
    Memory,
    /// The pids cgroup refused a fork.
    Pids,
}

/// How a command ended, with what it used.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Exit code, when it exited.
    pub exit_code: Option<i32>,
    /// Signal number, when a signal killed it.
    pub signal: Option<i32>,
    /// The limit that ended it, when one did.
    pub limit: Option<LimitHit>,
    /// Wall time from start to exit.
    pub wall_time: Duration,
    /// User plus system CPU time of the command and its waited-for descendants.
    pub cpu_time: Duration,
    /// Peak resident memory in bytes (largest process of the tree, or the cgroup's peak).
    pub peak_memory: u64,
}

/// One file to put into, or read from, the sandbox's work dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path under `/work` (no `..`, not absolute).
    pub path: String,
    /// The bytes.
    pub contents: Vec<u8>,
    /// Mode bit for executables.
    pub executable: bool,
}

/// One regular file of a sandbox's work dir, stat'ed (not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Relative path under `/work`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether an executable bit is set.
    pub executable: bool,
}

/// The regular files of a work dir, as far as a listing goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeListing {
    /// The files, depth first.
    pub files: Vec<FileStat>,
    /// More files were there than a listing returns (10,000).
    pub truncated: bool,
}

/// Server-wide settings of the sandbox layer.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The binary that serves as the spawner when run as `<exe> __spawner` (the `runnel`
    /// binary itself, or `runnel-spawner` in this crate's tests).
    pub spawner_exe: PathBuf,
    /// Run without isolation. Only when the operator asks for it explicitly.
    pub unconfined: bool,
}
