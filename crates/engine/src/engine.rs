//! The [`Engine`]: the registry, the spawner, the warm pool, the compile cache and the counters,
//! shared by every run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use runnel_languages::{Language, Registry};
use runnel_protocol::http::{HealthResponse, LanguageInfo};
use runnel_sandbox::{Bind, SandboxSpec, SpawnerHealth};
use tokio::sync::{mpsc, Semaphore};

use crate::backend::Backend;
use crate::cache::CompileCache;
use crate::error::EngineError;
use crate::executor;
use crate::memory::{self, MemoryBudget};
use crate::pool::{self, Pool};
use crate::run::{Limits, RunController, RunHandle, RunRequest};
use crate::session::manager::{self, SessionManager};
use crate::session::{CreateSession, SessionConfig, SessionHandle};
use crate::stats::{EngineStats, StatsRecorder};

/// Events buffered between a run and its consumer; a slow client slows the program down
/// (pipes fill up) rather than losing output. An event holds at most one 64 KiB read, so this
/// bounds what a run's consumer can leave waiting here to 1 MiB.
const EVENT_BUFFER: usize = 16;
/// How often [`Engine::drained`] looks.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(20);

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

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) registry: Registry,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) cache: CompileCache,
    pub(crate) pool: Pool,
    pub(crate) stats: StatsRecorder,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) memory: MemoryBudget,
    pub(crate) sessions: SessionManager,
    shutting_down: AtomicBool,
}

impl Inner {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The sandbox a run of `language` needs.
    pub(crate) fn sandbox_spec(
        &self,
        language: &Language,
        memory_bytes: u64,
        pids: u32,
    ) -> SandboxSpec {
        let memory_bytes = memory_bytes.max(language.min_memory_bytes);
        // tmpfs pages count against the memory cgroup: keep the dirs well below the limit.
        let tmpfs_cap = (memory_bytes / 2).max(8 << 20);
        SandboxSpec {
            binds: language
                .binds
                .iter()
                .map(|path| Bind::same(path.clone()))
                .collect(),
            memory_bytes,
            pids: pids.max(language.min_pids),
            cpus: self.config.cpus_per_sandbox,
            work_bytes: self.config.work_bytes.min(tmpfs_cap),
            tmp_bytes: self.config.tmp_bytes.min(tmpfs_cap),
        }
    }
}

impl Engine {
    /// Start the engine: open the compile cache and begin filling the warm pool.
    pub async fn start(
        config: EngineConfig,
        registry: Registry,
        backend: impl Backend,
    ) -> Result<Engine, EngineError> {
        let cache = CompileCache::open(&config.cache_dir, config.cache_max_bytes)?;
        let pooled: Vec<String> = if config.pool_size == 0 {
            Vec::new()
        } else {
            config
                .pool_languages
                .iter()
                .filter_map(|id| registry.get(id).map(|language| language.id.clone()))
                .collect()
        };
        let session_pooled: Vec<String> = if config.sessions.pool_size == 0 {
            Vec::new()
        } else {
            pooled_languages(&config.pool_languages, &registry)
        };
        // The pools' sandboxes have the default limits.
        let pooled_memory = |size: usize, languages: &[String]| -> u64 {
            languages
                .iter()
                .filter_map(|id| registry.get(id))
                .map(|language| memory::sandbox_memory(language, &config.default_limits))
                .sum::<u64>()
                .saturating_mul(size as u64)
        };
        let reserved = pooled_memory(config.pool_size, &pooled)
            + pooled_memory(config.sessions.pool_size, &session_pooled);
        let memory = MemoryBudget::new(config.max_committed_memory_bytes, reserved);
        let inner = Arc::new(Inner {
            memory,
            pool: Pool::new(config.pool_size, pooled.clone()),
            sessions: SessionManager::new(session_pooled.clone()),
            slots: Arc::new(Semaphore::new(config.max_concurrent_runs.max(1))),
            config,
            registry,
            backend: Box::new(backend),
            cache,
            stats: StatsRecorder::new(),
            shutting_down: AtomicBool::new(false),
        });
        if !pooled.is_empty() {
            tracing::info!(languages = ?pooled, size = inner.config.pool_size, "warm pool filling");
            tokio::spawn(pool::refill_loop(Arc::downgrade(&inner)));
        }
        tokio::spawn(manager::reap_loop(Arc::downgrade(&inner)));
        tokio::spawn(crate::health::recover_loop(Arc::downgrade(&inner)));
        if !session_pooled.is_empty() {
            tracing::info!(languages = ?session_pooled, "session pool filling");
            tokio::spawn(manager::refill_loop(Arc::downgrade(&inner)));
        }
        Ok(Engine { inner })
    }

    /// Start a run. Events arrive on the returned handle; dropping the handle kills the run.
    pub fn run(&self, mut request: RunRequest) -> Result<RunHandle, EngineError> {
        if self.inner.is_shutting_down() {
            return Err(EngineError::Unavailable(
                "the server is shutting down".to_owned(),
            ));
        }
        let language = self
            .inner
            .registry
            .get(&request.language)
            .cloned()
            .ok_or_else(|| EngineError::UnknownLanguage(request.language.clone()))?;
        request.limits = request.limits.at_least_floors_of(&language);
        let files = executor::prepare_files(&language, &request.files)?;
        // A run that could never fit the memory budget is refused now, not left waiting.
        self.inner
            .memory
            .check_run(memory::sandbox_memory(&language, &request.limits))?;
        let (event_sender, event_receiver) = mpsc::channel(EVENT_BUFFER);
        let (input_sender, input_receiver) = crate::input::channel();
        let handle = RunHandle {
            id: request.id.clone(),
            language: language.id.clone(),
            version: language.version.clone(),
            events: event_receiver,
            controller: RunController {
                input: input_sender,
            },
        };
        self.inner.stats.run_started();
        let run = executor::Run {
            inner: self.inner.clone(),
            language,
            files,
            request,
            events: event_sender,
            input: input_receiver,
            cache: executor::CacheUse::Shared,
        };
        tokio::spawn(run.execute());
        Ok(handle)
    }

    /// Create a session for `owner` (a key id), who may have at most `max_sessions` (0: no
    /// limit). From the warm pool of sessions when one is ready.
    pub async fn create_session(
        &self,
        request: CreateSession,
        owner: &str,
        max_sessions: u32,
    ) -> Result<SessionHandle, EngineError> {
        manager::create(&self.inner, request, owner, max_sessions).await
    }

    /// The session `id`, if it exists and belongs to `owner`.
    pub fn session(&self, id: &str, owner: &str) -> Option<SessionHandle> {
        self.inner.sessions.get(id, owner)
    }

    /// Every session of `owner`, by id.
    pub fn sessions(&self, owner: &str) -> Vec<SessionHandle> {
        self.inner.sessions.of_owner(owner)
    }

    /// Close session `id` of `owner`; false if there is none.
    pub async fn close_session(&self, id: &str, owner: &str) -> bool {
        match self.inner.sessions.remove(id, owner) {
            Some(session) => {
                session.close("closed").await;
                true
            }
            None => false,
        }
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.inner.sessions.count()
    }

    /// The installed languages, with their versions.
    pub fn languages(&self) -> Vec<LanguageInfo> {
        self.inner
            .registry
            .languages()
            .iter()
            .map(|language| LanguageInfo {
                id: language.id.clone(),
                name: language.name.clone(),
                version: language.version.clone(),
                aliases: language.aliases.clone(),
                compiled: language.compiled,
                repl: language.repl.is_some(),
                source_file: language.source_file.clone(),
            })
            .collect()
    }

    /// The memory a run or session of `language` (id or alias) with `limits` commits: its
    /// sandbox's limit, which a compile may raise. `None` for an unknown language.
    pub fn committed_memory(&self, language: &str, limits: &Limits) -> Option<u64> {
        let language = self.inner.registry.get(language)?;
        Some(memory::sandbox_memory(language, limits))
    }

    /// The canonical id of a language id or alias, if installed.
    pub fn resolve_language(&self, id_or_alias: &str) -> Option<String> {
        self.inner
            .registry
            .get(id_or_alias)
            .map(|language| language.id.clone())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> EngineStats {
        let mut stats = self.inner.stats.snapshot(self.inner.pool.counts());
        (
            stats.memory_committed,
            stats.memory_budget,
            stats.waiting_for_memory,
        ) = self.inner.memory.figures();
        stats.spawner_restarts = self.inner.backend.restarts();
        stats.pool_refill_failures = self.inner.pool.refills.totals();
        stats.session_pool_refill_failures = self.inner.sessions.refills.totals();
        stats.health = self.health().status;
        stats.cache_write_errors = self.inner.cache.write_health().0;
        stats
    }

    /// The engine's real state: `ready`, `degraded` (a part failing or recovering) or `down`.
    pub fn health(&self) -> HealthResponse {
        crate::health::report(&self.inner)
    }

    /// Resolves once no sandbox spawner can be started any more (after the restarts with
    /// backoff failed), with why: the server should then exit non-zero, so that its
    /// supervisor restarts it.
    pub async fn spawner_failed(&self) -> String {
        let mut health = self.inner.backend.watch_health();
        loop {
            if let SpawnerHealth::Failed { error } = &*health.borrow_and_update() {
                return error.clone();
            }
            if health.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// The process id of the sandbox spawner serving now.
    pub fn spawner_pid(&self) -> Option<u32> {
        self.inner.backend.pid()
    }

    /// Stop taking work: new runs, sessions and session executes are refused (`unavailable`,
    /// "the server is shutting down"); what runs goes on. See [`Engine::drained`].
    pub fn begin_drain(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.pool.wake();
        self.inner.sessions.wake();
    }

    /// Resolves once no run and no session execute is in flight or queued (checked every
    /// 20 ms); with [`Engine::begin_drain`], the end of a graceful shutdown's wait.
    pub async fn drained(&self) {
        loop {
            let queued: usize = self.inner.sessions.queued_executes();
            if self.inner.stats.running() == 0 && queued == 0 {
                return;
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// Stop taking runs, destroy the warm pool and stop the spawner (which kills every
    /// sandbox still alive and removes their cgroups): runs still going end with their `exit`
    /// (`internal_error`, "the server shut down during the run"), sessions with `shutdown`.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.inner.pool.wake();
        self.inner.pool.drain().await;
        self.inner.sessions.wake();
        self.inner.sessions.close_all().await;
        self.inner.backend.shutdown().await;
    }
}

/// The pooled languages that have a session driver.
fn pooled_languages(ids: &[String], registry: &Registry) -> Vec<String> {
    ids.iter()
        .filter_map(|id| registry.get(id))
        .filter(|language| crate::session::driver_of(language).is_some())
        .map(|language| language.id.clone())
        .collect()
}
