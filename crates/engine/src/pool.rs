//! The warm pools: things made ahead of requests, per language, kept up to a target by a
//! refill task. One pool type serves both: the one-shot runs' pool of sandboxes with their
//! interpreter started ([`warm::WarmSandbox`]) and the sessions' pool of sandboxes with their
//! driver ready (`session::manager::ReadySession`). Whatever a pool holds is handed out once
//! and never comes back: nothing serves a second run or session.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use runnel_languages::Language;
use tokio::sync::Notify;

use crate::backend::BoxFuture;
use crate::context::Context;
use crate::error::EngineError;
use crate::refill::RefillRecord;

pub(crate) mod warm;

pub(crate) use warm::{WarmProcess, WarmSandbox};

/// The pool of one-shot runs.
pub(crate) type RunPool = Pool<WarmSandbox>;

/// What a pool holds.
pub(crate) trait Pooled: Send + Sized + 'static {
    /// The pool's name in logs.
    const KIND: &'static str;

    /// Whether it died with its spawner (it is then never handed out).
    fn spawner_lost(&self) -> bool;

    /// Destroy it (at shutdown, or when it was made too late to be needed).
    fn discard(self) -> BoxFuture<'static, ()>;

    /// Make one for `language`.
    fn prepare(
        context: Arc<Context>,
        language: Language,
    ) -> BoxFuture<'static, Result<Self, EngineError>>;

    /// Whether making one takes so long that it goes in a task of its own, so that the other
    /// languages' refills do not wait for it.
    fn prepared_aside(_language: &Language) -> bool {
        false
    }
}

/// Ready items by language id, and how the refills go.
pub(crate) struct Pool<T> {
    target: usize,
    languages: Vec<String>,
    ready: Mutex<HashMap<String, VecDeque<T>>>,
    /// Items being prepared in tasks of their own ([`Pooled::prepared_aside`]).
    preparing: Mutex<HashMap<String, usize>>,
    wake: Arc<Notify>,
    /// How the refills are going.
    pub(crate) refills: RefillRecord,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl<T: Pooled> Pool<T> {
    /// A pool of `target` items of each of `languages` (empty: no pool).
    pub(crate) fn new(target: usize, languages: Vec<String>) -> Self {
        Pool {
            target,
            languages,
            ready: Mutex::new(HashMap::new()),
            preparing: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            refills: RefillRecord::default(),
        }
    }

    /// Start the task that keeps the pool full, unless it is empty. It ends when the engine
    /// is dropped or shut down.
    pub(crate) fn fill(self: &Arc<Self>, context: &Arc<Context>) {
        if self.languages.is_empty() || self.target == 0 {
            return;
        }
        tracing::info!(languages = ?self.languages, size = self.target, "{} filling", T::KIND);
        tokio::spawn(refill_loop(Arc::downgrade(context), Arc::downgrade(self)));
    }

    /// Take a ready item for `language`, if there is one; the refiller makes another. One
    /// whose spawner died is never handed out.
    pub(crate) fn take(&self, language: &str) -> Option<T> {
        let taken = {
            let mut ready = lock(&self.ready);
            let mut taken = None;
            if let Some(queue) = ready.get_mut(language) {
                while let Some(item) = queue.pop_front() {
                    if !item.spawner_lost() {
                        taken = Some(item);
                        break;
                    }
                }
            }
            taken
        };
        self.wake.notify_one();
        taken
    }

    /// Drop the ready items that died with their spawner; the refiller replaces them.
    /// Returns how many went.
    pub(crate) fn purge_lost(&self) -> usize {
        let lost = {
            let mut ready = lock(&self.ready);
            let mut lost = 0;
            for queue in ready.values_mut() {
                let before = queue.len();
                queue.retain(|item| !item.spawner_lost());
                lost += before - queue.len();
            }
            lost
        };
        self.wake.notify_one();
        lost
    }

    /// Ready counts of every pooled language, for stats.
    pub(crate) fn counts(&self) -> BTreeMap<String, usize> {
        let ready = lock(&self.ready);
        self.languages
            .iter()
            .map(|language| {
                let count = ready.get(language).map_or(0, VecDeque::len);
                (language.clone(), count)
            })
            .collect()
    }

    /// The language most in need of an item (ready and being prepared), if any is below
    /// target.
    fn neediest(&self) -> Option<String> {
        let preparing = lock(&self.preparing).clone();
        let ready = lock(&self.ready);
        self.languages
            .iter()
            .map(|language| {
                let count = ready.get(language).map_or(0, VecDeque::len)
                    + preparing.get(language).copied().unwrap_or(0);
                (count, language)
            })
            .filter(|(count, _)| *count < self.target)
            .min_by_key(|(count, _)| *count)
            .map(|(_, language)| language.clone())
    }

    fn set_preparing(&self, language: &str, change: isize) {
        let mut preparing = lock(&self.preparing);
        let count = preparing.entry(language.to_owned()).or_insert(0);
        *count = count.saturating_add_signed(change);
    }

    fn put(&self, language: &str, item: T) {
        lock(&self.ready)
            .entry(language.to_owned())
            .or_default()
            .push_back(item);
    }

    /// Destroy every ready item (at shutdown).
    pub(crate) async fn drain(&self) {
        let all: Vec<T> = lock(&self.ready)
            .values_mut()
            .flat_map(|queue| queue.drain(..))
            .collect();
        for item in all {
            item.discard().await;
        }
    }

    /// Let the refiller look again (an item was taken, or the engine is shutting down).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Keep `pool` full until the engine is dropped or shut down.
async fn refill_loop<T: Pooled>(context: Weak<Context>, pool: Weak<Pool<T>>) {
    loop {
        let (Some(engine), Some(pool)) = (context.upgrade(), pool.upgrade()) else {
            return;
        };
        if engine.is_shutting_down() {
            return;
        }
        let Some(language_id) = pool.neediest() else {
            let wake = Arc::clone(&pool.wake);
            drop((engine, pool));
            wake.notified().await;
            continue;
        };
        let Some(language) = engine.registry.get(&language_id).cloned() else {
            return;
        };
        if T::prepared_aside(&language) {
            pool.set_preparing(&language_id, 1);
            tokio::spawn(prepare_aside(
                Arc::downgrade(&engine),
                Arc::downgrade(&pool),
                language,
            ));
            continue;
        }
        let prepared = T::prepare(Arc::clone(&engine), language).await;
        if let Some(pause) = settle(&engine, &pool, &language_id, prepared).await {
            drop((engine, pool));
            tokio::time::sleep(pause).await;
        }
    }
}

/// Prepare one item in a task of its own and add it to the pool when it is ready.
async fn prepare_aside<T: Pooled>(context: Weak<Context>, pool: Weak<Pool<T>>, language: Language) {
    let (Some(engine), Some(ready_pool)) = (context.upgrade(), pool.upgrade()) else {
        return;
    };
    let language_id = language.id.clone();
    let prepared = T::prepare(Arc::clone(&engine), language).await;
    ready_pool.set_preparing(&language_id, -1);
    if let Some(pause) = settle(&engine, &ready_pool, &language_id, prepared).await {
        drop((engine, ready_pool));
        tokio::time::sleep(pause).await;
        if let Some(pool) = pool.upgrade() {
            pool.wake();
        }
    }
}

/// Put a prepared item in the pool (or discard it at shutdown), or record the failure;
/// returns how long to pause after a failure.
async fn settle<T: Pooled>(
    engine: &Context,
    pool: &Pool<T>,
    language: &str,
    prepared: Result<T, EngineError>,
) -> Option<std::time::Duration> {
    match prepared {
        Ok(item) if engine.is_shutting_down() => {
            item.discard().await;
            None
        }
        Ok(item) => {
            pool.refills.succeeded(language);
            pool.put(language, item);
            None
        }
        Err(_) if engine.is_shutting_down() => None,
        Err(error) => {
            let pause = pool.refills.failed(language, &error.to_string());
            tracing::warn!(%language, %error, ?pause, "{} refill failed", T::KIND);
            Some(pause)
        }
    }
}
