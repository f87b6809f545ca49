//! The [`Engine`]: the shared [`Context`] (languages, backend, compile cache, counters), the
//! warm pool and the sessions, and the operations the gateway calls.

use std::sync::Arc;

use runnel_languages::Registry;
use runnel_protocol::http::{HealthResponse, LanguageInfo};
use runnel_sandbox::SpawnerHealth;
use tokio::sync::{mpsc, oneshot};

use crate::backend::Backend;
use crate::cache::CompileCache;
use crate::config::EngineConfig;
use crate::context::Context;
use crate::error::EngineError;
use crate::executor;
use crate::log::{EventLog, Overflow};
use crate::memory::{self, MemoryBudget};
use crate::pool::RunPool;
use crate::run::{Limits, RunController, RunEvent, RunHandle, RunRequest};
use crate::session::manager::{self, SessionManager};
use crate::session::{CreateSession, SessionHandle};
use crate::stats::EngineStats;

/// Events buffered between a run and its consumer; a slow client slows the program down
/// (pipes fill up) rather than losing output. An event holds at most one 64 KiB read, so this
/// bounds what a run's consumer can leave waiting here to 1 MiB.
const EVENT_BUFFER: usize = 16;
/// The least a run's log holds of events its reader has not taken: enough that the run and its
/// reader do not wait on each other event by event.
const RUN_LOG_MIN_BYTES: usize = 64 * 1024;
/// How often [`Engine::drained`] looks.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    context: Arc<Context>,
    pool: Arc<RunPool>,
    sessions: Arc<SessionManager>,
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
        let context = Arc::new(Context::new(
            config,
            registry,
            Box::new(backend),
            cache,
            memory,
        ));
        let pool = Arc::new(RunPool::new(context.config.pool_size, pooled));
        pool.fill(&context);
        let sessions = Arc::new(SessionManager::new(
            context.config.sessions.pool_size,
            session_pooled,
        ));
        sessions.pool.fill(&context);
        tokio::spawn(manager::reap_loop(
            Arc::downgrade(&context),
            Arc::downgrade(&sessions),
        ));
        tokio::spawn(crate::health::recover_loop(
            Arc::downgrade(&context),
            Arc::downgrade(&pool),
            Arc::downgrade(&sessions),
        ));
        Ok(Engine {
            context,
            pool,
            sessions,
        })
    }

    /// Start a run. Events arrive on the returned handle; dropping the handle kills the run.
    pub fn run(&self, mut request: RunRequest) -> Result<RunHandle, EngineError> {
        if self.context.is_shutting_down() {
            return Err(EngineError::Unavailable(
                "the server is shutting down".to_owned(),
            ));
        }
        let language = self
            .context
            .registry
            .get(&request.language)
            .cloned()
            .ok_or_else(|| EngineError::UnknownLanguage(request.language.clone()))?;
        request.limits = request.limits.at_least_floors_of(&language);
        let files = executor::prepare_files(&language, &request.files)?;
        // A run that could never fit the memory budget is refused now, not left waiting.
        self.context
            .memory
            .check_run(memory::sandbox_memory(&language, &request.limits))?;
        let (event_sender, event_receiver) = mpsc::channel(EVENT_BUFFER);
        let (input_sender, input_receiver) = crate::input::channel();
        let log = EventLog::new(
            request.replay_bytes.max(RUN_LOG_MIN_BYTES),
            Overflow::WaitForReader,
        );
        let (alive, dropped) = oneshot::channel();
        tokio::spawn(record(event_receiver, Arc::clone(&log), dropped));
        let handle = RunHandle {
            id: request.id.clone(),
            language: language.id.clone(),
            version: language.version.clone(),
            log,
            reader: None,
            pending: Default::default(),
            controller: RunController {
                input: input_sender,
            },
            _alive: alive,
        };
        self.context.stats.run_started();
        let run = executor::Run {
            context: self.context.clone(),
            pool: Some(self.pool.clone()),
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
        manager::create(&self.context, &self.sessions, request, owner, max_sessions).await
    }

    /// The session `id`, if it exists and belongs to `owner`.
    pub fn session(&self, id: &str, owner: &str) -> Option<SessionHandle> {
        self.sessions.get(id, owner)
    }

    /// Every session of `owner`, by id.
    pub fn sessions(&self, owner: &str) -> Vec<SessionHandle> {
        self.sessions.of_owner(owner)
    }

    /// Close session `id` of `owner`; false if there is none.
    pub async fn close_session(&self, id: &str, owner: &str) -> bool {
        match self.sessions.remove(id, owner) {
            Some(session) => {
                session.close("closed").await;
                true
            }
            None => false,
        }
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.count()
    }

    /// The installed languages, with their versions.
    pub fn languages(&self) -> Vec<LanguageInfo> {
        self.context
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
        let language = self.context.registry.get(language)?;
        Some(memory::sandbox_memory(language, limits))
    }

    /// The canonical id of a language id or alias, if installed.
    pub fn resolve_language(&self, id_or_alias: &str) -> Option<String> {
        self.context
            .registry
            .get(id_or_alias)
            .map(|language| language.id.clone())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> EngineStats {
        let mut stats = self.context.stats.snapshot(self.pool.counts());
        (
            stats.memory_committed,
            stats.memory_budget,
            stats.waiting_for_memory,
        ) = self.context.memory.figures();
        stats.spawner_restarts = self.context.backend.restarts();
        stats.pool_refill_failures = self.pool.refills.totals();
        stats.session_pool_refill_failures = self.sessions.pool.refills.totals();
        stats.health = self.health().status;
        stats.cache_write_errors = self.context.cache.write_health().0;
        stats
    }

    /// The engine's real state: `ready`, `degraded` (a part failing or recovering) or `down`.
    pub fn health(&self) -> HealthResponse {
        crate::health::report(&self.context, &self.pool, &self.sessions)
    }

    /// Resolves once no sandbox spawner can be started any more (after the restarts with
    /// backoff failed), with why: the server should then exit non-zero, so that its
    /// supervisor restarts it.
    pub async fn spawner_failed(&self) -> String {
        let mut health = self.context.backend.watch_health();
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
        self.context.backend.pid()
    }

    /// Stop taking work: new runs, sessions and session executes are refused (`unavailable`,
    /// "the server is shutting down"); what runs goes on. See [`Engine::drained`].
    pub fn begin_drain(&self) {
        self.context.begin_shutdown();
        self.pool.wake();
        self.sessions.pool.wake();
    }

    /// Resolves once no run and no session execute is in flight or queued (checked every
    /// 20 ms); with [`Engine::begin_drain`], the end of a graceful shutdown's wait.
    pub async fn drained(&self) {
        loop {
            let queued: usize = self.sessions.queued_executes();
            if self.context.stats.running() == 0 && queued == 0 {
                return;
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// Stop taking runs, destroy the warm pool and stop the spawner (which kills every
    /// sandbox still alive and removes their cgroups): runs still going end with their `exit`
    /// (`internal_error`, "the server shut down during the run"), sessions with `shutdown`.
    pub async fn shutdown(&self) {
        self.context.begin_shutdown();
        self.pool.wake();
        self.pool.drain().await;
        self.sessions.pool.wake();
        self.sessions.close_all().await;
        self.context.backend.shutdown().await;
    }
}

/// Move a run's events into its log, waiting for room; stops when the run's handle is dropped
/// (the run then sees its events' receiver gone, and is killed).
async fn record(
    mut events: mpsc::Receiver<RunEvent>,
    log: Arc<EventLog<RunEvent>>,
    mut dropped: oneshot::Receiver<()>,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = &mut dropped => return,
        };
        let Some(event) = event else {
            // The run's task ended without its exit (it panicked): the log still gets one.
            let lost = executor::internal_error("the run ended without an outcome".to_owned());
            log.push(RunEvent::Exit(lost));
            return;
        };
        tokio::select! {
            _ = log.push_when_room(event) => {}
            _ = &mut dropped => return,
        }
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
