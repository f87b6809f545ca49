//! The flags of the engine (shared by `runnel serve` and `runnel node`) and of `runnel node`.

use std::path::PathBuf;

use clap::Args;

use super::DEFAULT_DATA_DIR;

/// The engine's flags: where it keeps its cache, its pools, its sessions and its limits.
#[derive(Debug, Args)]
pub(crate) struct EngineArgs {
    /// Data directory: SQLite database and compile cache.
    #[arg(long, env = "RUNNEL_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub(crate) data_dir: PathBuf,
    /// Ready sandboxes kept per pooled language (0 turns the warm pool off).
    #[arg(long, env = "RUNNEL_POOL_SIZE", default_value_t = runnel_engine::DEFAULT_POOL_SIZE)]
    pub(crate) pool_size: usize,
    /// Languages with a warm pool, comma-separated.
    #[arg(
        long,
        env = "RUNNEL_POOL_LANGUAGES",
        value_delimiter = ',',
        default_values_t = runnel_engine::DEFAULT_POOL_LANGUAGES.map(String::from)
    )]
    pub(crate) pool_languages: Vec<String>,
    /// Seconds a session may stay idle (no execute, ping or keystroke) before it is closed.
    #[arg(long, env = "RUNNEL_SESSION_IDLE_TIMEOUT", default_value_t = runnel_engine::DEFAULT_SESSION_IDLE_TIMEOUT.as_secs_f64())]
    pub(crate) session_idle_timeout: f64,
    /// Ready sessions (sandbox and interpreter started) kept per pooled language; 0 turns the
    /// session pool off.
    #[arg(long, env = "RUNNEL_SESSION_POOL_SIZE", default_value_t = runnel_engine::DEFAULT_SESSION_POOL_SIZE)]
    pub(crate) session_pool_size: usize,
    /// Seconds of CPU a session's sandbox may use over its life (cells, what they leave
    /// running, terminals); past it the session is closed (`cpu_limit`).
    #[arg(long, env = "RUNNEL_SESSION_CPU_BUDGET", default_value_t = runnel_engine::DEFAULT_SESSION_CPU_BUDGET.as_secs_f64())]
    pub(crate) session_cpu_budget: f64,
    /// Seconds a session may live however active it is (also the largest idle timeout a
    /// client may ask for); past it the session is closed (`expired`).
    #[arg(long, env = "RUNNEL_SESSION_MAX_LIFETIME", default_value_t = runnel_engine::DEFAULT_SESSION_MAX_LIFETIME.as_secs_f64())]
    pub(crate) session_max_lifetime: f64,
    /// Bytes of events each session keeps for clients that reconnect and resume.
    #[arg(long, env = "RUNNEL_SESSION_LOG_BYTES", default_value_t = runnel_engine::DEFAULT_SESSION_LOG_BYTES)]
    pub(crate) session_log_bytes: usize,
    /// Runs executing at once; more wait.
    #[arg(long, env = "RUNNEL_MAX_RUNS", default_value_t = runnel_engine::DEFAULT_MAX_CONCURRENT_RUNS)]
    pub(crate) max_runs: usize,
    /// MiB that the memory limits of every run and session at once must fit in (the warm
    /// pools set aside first): runs wait for room, sessions are refused. Default: three
    /// quarters of the host's RAM.
    #[arg(long, env = "RUNNEL_MAX_COMMITTED_MEMORY_MB")]
    pub(crate) max_committed_memory_mb: Option<u64>,
    /// Directory of languages (`<id>/language.toml` or `<id>.toml`) to use instead of the
    /// embedded ones.
    #[arg(long, env = "RUNNEL_LANGUAGES_DIR")]
    pub(crate) languages_dir: Option<PathBuf>,
    /// Run programs WITHOUT kernel isolation when the host lacks it. Never on a shared host.
    #[arg(long, env = "RUNNEL_UNCONFINED", default_value_t = false)]
    pub(crate) unconfined: bool,
}

/// `runnel node`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The engine.
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    /// NATS server URLs of the fleet's bus, comma-separated.
    #[arg(long, env = "RUNNEL_NATS")]
    pub(crate) nats: String,
    /// A NATS credentials file (JWT and nkey seed) for the bus.
    #[arg(long, env = "RUNNEL_NATS_CREDS")]
    pub(crate) nats_creds: Option<PathBuf>,
    /// A file holding the node's NATS nkey seed.
    #[arg(long, env = "RUNNEL_NATS_NKEY")]
    pub(crate) nats_nkey: Option<PathBuf>,
    /// The fleet's subject prefix on the bus (several fleets may share a NATS cluster).
    #[arg(long, env = "RUNNEL_SUBJECT_PREFIX", default_value = runnel_fleet::subjects::DEFAULT_PREFIX)]
    pub(crate) subject_prefix: String,
    /// The node's id in the fleet (letters, digits, `-`, `_`); default: the host's name.
    #[arg(long, env = "RUNNEL_NODE_ID")]
    pub(crate) node_id: Option<String>,
    /// Milliseconds between heartbeats (gateways count a node lost after three missed).
    #[arg(long, env = "RUNNEL_HEARTBEAT_MS", default_value_t = 1000)]
    pub(crate) heartbeat_ms: u64,
    /// Stop at once when stdin closes (for supervisors and tests that must never leave a node
    /// behind).
    #[arg(long, default_value_t = false)]
    pub(crate) stop_on_stdin_close: bool,
}
