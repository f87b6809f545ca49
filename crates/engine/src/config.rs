//! [`EngineConfig`]: the engine's settings and their defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::run::Limits;

/// Default ready sandboxes kept per pooled language.
pub const DEFAULT_POOL_SIZE: usize = 2;
/// Default languages with a warm pool (of sandboxes, and of sessions).
pub const DEFAULT_POOL_LANGUAGES: [&str; 2] = ["python", "javascript"];
/// Default runs executing at once.
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 64;

/// Engine settings, built once by the CLI from its `Config`.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Directory of the compile cache.
    pub cache_dir: PathBuf,
    /// Largest total size of the compile cache, bytes.
    pub cache_max_bytes: u64,
    /// Ready sandboxes kept per pooled language (0 turns the pool off).
    pub pool_size: usize,
    /// Languages (ids) that get a warm pool.
    pub pool_languages: Vec<String>,
    /// Runs executing at once; more wait for a slot.
    pub max_concurrent_runs: usize,
    /// Size of each sandbox's `/work` tmpfs, bytes.
    pub work_bytes: u64,
    /// Size of each sandbox's `/tmp` tmpfs, bytes.
    pub tmp_bytes: u64,
    /// Limits of a run that asks for none; pooled sandboxes are made for these.
    pub default_limits: Limits,
    /// CPUs each sandbox may use.
    pub cpus_per_sandbox: Option<f64>,
    /// Sessions: idle timeout, replay log, warm pool.
    pub sessions: SessionConfig,
    /// The memory limits of every run and session at once fit in this many bytes (the warm
    /// pools' sandboxes set aside first); runs wait for room, sessions are refused.
    pub max_committed_memory_bytes: u64,
}

impl EngineConfig {
    /// Defaults for one machine, with the cache under `data_dir`.
    pub fn with_data_dir(data_dir: &std::path::Path) -> Self {
        EngineConfig {
            cache_dir: data_dir.join("cache"),
            cache_max_bytes: 2 << 30,
            pool_size: DEFAULT_POOL_SIZE,
            pool_languages: DEFAULT_POOL_LANGUAGES.map(str::to_owned).to_vec(),
            max_concurrent_runs: DEFAULT_MAX_CONCURRENT_RUNS,
            work_bytes: 64 << 20,
            tmp_bytes: 64 << 20,
            default_limits: Limits::DEFAULT,
            cpus_per_sandbox: Some(1.0),
            sessions: SessionConfig::default(),
            max_committed_memory_bytes: crate::memory::default_committed_memory_bytes(),
        }
    }
}

/// Default idle timeout of a session: 10 minutes.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// Default bytes of events a session keeps for replay: 4 MiB.
pub const DEFAULT_SESSION_LOG_BYTES: usize = 4 << 20;
/// Default ready sessions kept per pooled language.
pub const DEFAULT_SESSION_POOL_SIZE: usize = 1;
/// Default CPU budget of a session: one CPU-hour.
pub const DEFAULT_SESSION_CPU_BUDGET: Duration = Duration::from_secs(3600);
/// Default longest life of a session: 12 hours.
pub const DEFAULT_SESSION_MAX_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Settings of sessions, part of the engine's configuration.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// A session with no activity for this long is closed.
    pub idle_timeout: Duration,
    /// Bytes of events each session keeps for replay after a reconnect.
    pub log_bytes: usize,
    /// Ready sessions kept per pooled language (0 turns the pool off).
    pub pool_size: usize,
    /// CPU time a session's sandbox may use over its whole life: its cells, what they leave
    /// running between cells, its terminals. Past it the session is closed (`cpu_limit`).
    pub cpu_budget: Duration,
    /// How long a session may live, however active; also the largest idle timeout a client
    /// may ask for. Past it the session is closed (`expired`).
    pub max_lifetime: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            log_bytes: DEFAULT_SESSION_LOG_BYTES,
            pool_size: DEFAULT_SESSION_POOL_SIZE,
            cpu_budget: DEFAULT_SESSION_CPU_BUDGET,
            max_lifetime: DEFAULT_SESSION_MAX_LIFETIME,
        }
    }
}
