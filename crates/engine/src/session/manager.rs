//! The session registry: creation (from the warm pool of sessions when one is ready), lookup
//! by id and owner, per-key limits, closing, and the idle reaper.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use runnel_languages::Language;
use tokio::sync::RwLock;
use tokio::time::Instant;

use super::repl::Kernel;
use super::{driver_of, events::EventLog, CreateSession, Session, SessionHandle};
use crate::backend::{BoxFuture, Sandbox};
use crate::context::Context;
use crate::error::EngineError;
use crate::pool::{Pool, Pooled};

/// How often the reaper looks for idle sessions, at most.
const REAP_INTERVAL: Duration = Duration::from_millis(500);

/// A sandbox with its driver already started, for one session.
pub(crate) struct ReadySession {
    sandbox: Sandbox,
    kernel: Option<Kernel>,
}

/// Every live session, and the warm pool of sessions.
pub(crate) struct SessionManager {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions with their driver started, made with the default limits.
    pub(crate) pool: Arc<Pool<ReadySession>>,
}

impl Pooled for ReadySession {
    const KIND: &'static str = "session pool";

    fn spawner_lost(&self) -> bool {
        self.sandbox.spawner_lost()
    }

    fn discard(self) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            drop(self.kernel);
            let _ = self.sandbox.destroy().await;
        })
    }

    fn prepare(
        context: Arc<Context>,
        language: Language,
    ) -> BoxFuture<'static, Result<Self, EngineError>> {
        Box::pin(async move {
            let limits = context.config.default_limits.at_least_floors_of(&language);
            prepare(&context, &language, limits).await
        })
    }
}

impl SessionManager {
    /// No sessions yet, and a pool of `pool_size` sessions of each of `pool_languages`.
    pub(crate) fn new(pool_size: usize, pool_languages: Vec<String>) -> SessionManager {
        SessionManager {
            sessions: Mutex::new(HashMap::new()),
            pool: Arc::new(Pool::new(pool_size, pool_languages)),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Live sessions.
    pub(crate) fn count(&self) -> usize {
        self.sessions().len()
    }

    pub(crate) fn get(&self, id: &str, owner: &str) -> Option<SessionHandle> {
        let sessions = self.sessions();
        let session = sessions.get(id)?;
        (session.owner == owner).then(|| SessionHandle {
            session: session.clone(),
        })
    }

    pub(crate) fn of_owner(&self, owner: &str) -> Vec<SessionHandle> {
        let mut list: Vec<SessionHandle> = self
            .sessions()
            .values()
            .filter(|session| session.owner == owner)
            .map(|session| SessionHandle {
                session: session.clone(),
            })
            .collect();
        list.sort_by(|a, b| a.id().cmp(b.id()));
        list
    }

    pub(crate) fn remove(&self, id: &str, owner: &str) -> Option<Arc<Session>> {
        let mut sessions = self.sessions();
        if sessions.get(id)?.owner != owner {
            return None;
        }
        sessions.remove(id)
    }

    /// Close every session and empty the pool (at shutdown).
    pub(crate) async fn close_all(&self) {
        let all: Vec<Arc<Session>> = self
            .sessions()
            .drain()
            .map(|(_, session)| session)
            .collect();
        for session in all {
            session.close("shutdown").await;
        }
        self.pool.drain().await;
    }

    /// Session executes queued or running, over every session.
    pub(crate) fn queued_executes(&self) -> usize {
        self.sessions()
            .values()
            .map(|session| session.busy.load(std::sync::atomic::Ordering::Acquire))
            .sum()
    }
}

/// Create a session for `owner`, who may have at most `max_sessions` (0: no limit).
pub(crate) async fn create(
    engine: &Arc<Context>,
    manager: &SessionManager,
    request: CreateSession,
    owner: &str,
    max_sessions: u32,
) -> Result<SessionHandle, EngineError> {
    if engine.is_shutting_down() {
        return Err(EngineError::Unavailable(
            "the server is shutting down".to_owned(),
        ));
    }
    let language = engine
        .registry
        .get(&request.language)
        .cloned()
        .ok_or_else(|| EngineError::UnknownLanguage(request.language.clone()))?;
    let owned = manager.of_owner(owner).len();
    if max_sessions > 0 && owned >= max_sessions as usize {
        return Err(EngineError::SessionLimit {
            limit: max_sessions,
        });
    }
    let limits = request.limits.at_least_floors_of(&language);
    // The session's memory limit stays committed until it closes.
    let committed = engine
        .memory
        .commit_session(crate::memory::sandbox_memory(&language, &limits))?;
    let pooled = if limits == engine.config.default_limits.at_least_floors_of(&language) {
        manager.pool.take(&language.id)
    } else {
        None
    };
    let ready = match pooled {
        Some(ready) => ready,
        None => prepare(engine, &language, limits).await?,
    };
    let id = format!("ses-{:024x}", rand::random::<u128>() >> 32);
    let config = &engine.config.sessions;
    let session = Arc::new(Session {
        id: id.clone(),
        owner: owner.to_owned(),
        idle_timeout: request
            .idle_timeout
            .unwrap_or(config.idle_timeout)
            .min(config.max_lifetime),
        limits,
        engine: engine.clone(),
        meter: ready.sandbox.meter(),
        created: Instant::now(),
        committed: Mutex::new(Some(committed)),
        sandbox: RwLock::new(Some(ready.sandbox)),
        log: EventLog::new(
            engine.config.sessions.log_bytes,
            crate::log::Overflow::DropOldest,
        ),
        kernel: tokio::sync::Mutex::new(ready.kernel),
        current: Mutex::new(None),
        queued: Mutex::new(HashMap::new()),
        last_active: Mutex::new(Instant::now()),
        busy: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        stdin_seq: std::sync::atomic::AtomicU64::new(0),
        language,
    });
    // Checked again under the lock: two creates may have raced past the first check.
    let refused = {
        let mut sessions = manager.sessions();
        let owned = sessions.values().filter(|s| s.owner == owner).count();
        let refused = max_sessions > 0 && owned >= max_sessions as usize;
        if !refused {
            sessions.insert(id, session.clone());
        }
        refused
    };
    if refused {
        session.close("closed").await;
        return Err(EngineError::SessionLimit {
            limit: max_sessions,
        });
    }
    tracing::debug!(session = %session.id, language = %session.language.id, "session created");
    Ok(SessionHandle { session })
}

/// A sandbox for a session of `language`, with its driver started.
async fn prepare(
    engine: &Arc<Context>,
    language: &Language,
    limits: crate::run::Limits,
) -> Result<ReadySession, EngineError> {
    let (memory, pids) = if language.compiled {
        let compile = language.compile_limits();
        (
            limits.memory_bytes.max(compile.memory_bytes),
            limits.pids.max(compile.pids),
        )
    } else {
        (limits.memory_bytes, limits.pids)
    };
    let spec = engine.sandbox_spec(language, memory, pids);
    let sandbox = engine.backend.create(&spec).await?;
    let kernel = match driver_of(language) {
        Some(driver) => {
            match Kernel::start(
                &sandbox,
                language,
                &driver,
                limits,
                engine.config.work_bytes,
            )
            .await
            {
                Ok(kernel) => Some(kernel),
                Err(error) => {
                    let _ = sandbox.destroy().await;
                    return Err(error);
                }
            }
        }
        None => None,
    };
    Ok(ReadySession { sandbox, kernel })
}

/// Close sessions idle longer than their timeout, until the engine goes away.
pub(crate) async fn reap_loop(engine: Weak<Context>, manager: Weak<SessionManager>) {
    loop {
        let interval = {
            let (Some(engine), Some(manager)) = (engine.upgrade(), manager.upgrade()) else {
                return;
            };
            if engine.is_shutting_down() {
                return;
            }
            let config = &engine.config.sessions;
            // The counters are read outside the lock: they are files.
            let open: Vec<Arc<Session>> = manager.sessions().values().cloned().collect();
            let ending: Vec<(Arc<Session>, &str)> = open
                .into_iter()
                .filter_map(|session| {
                    let end = session.end_reason(config)?;
                    Some((session, end))
                })
                .collect();
            let ended: Vec<(Arc<Session>, &str)> = {
                let mut sessions = manager.sessions();
                ending
                    .into_iter()
                    .filter_map(|(session, end)| Some((sessions.remove(&session.id)?, end)))
                    .collect()
            };
            for (session, end) in ended {
                tracing::debug!(session = %session.id, end, "session ended by the reaper");
                session.close(end).await;
            }
            (engine.config.sessions.idle_timeout / 4)
                .clamp(Duration::from_millis(50), REAP_INTERVAL)
        };
        tokio::time::sleep(interval).await;
    }
}
