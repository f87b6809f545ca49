//! The warm pool: sandboxes created ahead of requests, per language, with the interpreter
//! already started where the language has a warm-start driver. Each one serves exactly one run
//! and is destroyed after it; nothing is ever handed to a second run or session.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use runnel_languages::Language;
use runnel_sandbox::{CommandSpec, ExtraEnd, ExtraPipe, FileEntry, StdioMode};

use crate::backend::{Process, Sandbox};

use crate::context::Context;
use crate::error::EngineError;
use crate::refill::RefillRecord;

/// A sandbox ready for one run.
pub(crate) struct WarmSandbox {
    pub(crate) sandbox: Sandbox,
    /// The interpreter, already started and blocked on its launch pipe.
    pub(crate) warm: Option<WarmProcess>,
    /// Memory limit the sandbox (and the warm interpreter's hints) were made for.
    pub(crate) memory_bytes: u64,
}

/// A started driver waiting for its launch request.
pub(crate) struct WarmProcess {
    pub(crate) process: Process,
    pub(crate) launch: tokio::net::unix::pipe::Sender,
}

/// Ready sandboxes by language id.
pub(crate) struct Pool {
    target: usize,
    languages: Vec<String>,
    ready: Mutex<HashMap<String, VecDeque<WarmSandbox>>>,
    /// Sandboxes being prepared in tasks of their own (warm compilers, slow to warm up).
    warming: Mutex<HashMap<String, usize>>,
    wake: Arc<tokio::sync::Notify>,
    /// How the refills are going.
    pub(crate) refills: RefillRecord,
}

impl Pool {
    pub(crate) fn new(target: usize, languages: Vec<String>) -> Self {
        Pool {
            target,
            languages,
            ready: Mutex::new(HashMap::new()),
            warming: Mutex::new(HashMap::new()),
            wake: Arc::new(tokio::sync::Notify::new()),
            refills: RefillRecord::default(),
        }
    }

    fn with<T>(&self, action: impl FnOnce(&mut HashMap<String, VecDeque<WarmSandbox>>) -> T) -> T {
        let mut guard = self
            .ready
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        action(&mut guard)
    }

    /// Take a ready sandbox for `language`, if there is one; the refiller makes another. A
    /// sandbox whose spawner died is never handed out.
    pub(crate) fn take(&self, language: &str) -> Option<WarmSandbox> {
        let taken = self.with(|ready| {
            let queue = ready.get_mut(language)?;
            while let Some(warm) = queue.pop_front() {
                if !warm.sandbox.spawner_lost() {
                    return Some(warm);
                }
            }
            None
        });
        self.wake.notify_one();
        taken
    }

    /// Drop the ready sandboxes that died with their spawner; the refiller replaces them.
    /// Returns how many went.
    pub(crate) fn purge_lost(&self) -> usize {
        let lost = self.with(|ready| {
            let mut lost = 0;
            for queue in ready.values_mut() {
                let before = queue.len();
                queue.retain(|warm| !warm.sandbox.spawner_lost());
                lost += before - queue.len();
            }
            lost
        });
        self.wake.notify_one();
        lost
    }

    /// Ready counts, for stats.
    pub(crate) fn counts(&self) -> BTreeMap<String, usize> {
        self.with(|ready| {
            self.languages
                .iter()
                .map(|language| {
                    let count = ready.get(language).map_or(0, VecDeque::len);
                    (language.clone(), count)
                })
                .collect()
        })
    }

    /// The language most in need of a sandbox, if any is below target.
    fn neediest(&self) -> Option<String> {
        let warming = self.warming_counts();
        self.with(|ready| {
            self.languages
                .iter()
                .map(|language| {
                    let count = ready.get(language).map_or(0, VecDeque::len)
                        + warming.get(language).copied().unwrap_or(0);
                    (count, language)
                })
                .filter(|(count, _)| *count < self.target)
                .min_by_key(|(count, _)| *count)
                .map(|(_, language)| language.clone())
        })
    }

    fn warming_counts(&self) -> HashMap<String, usize> {
        self.warming
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    fn set_warming(&self, language: &str, change: isize) {
        let mut warming = self
            .warming
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let count = warming.entry(language.to_owned()).or_insert(0);
        *count = count.saturating_add_signed(change);
    }

    /// Destroy every ready sandbox (at shutdown).
    pub(crate) async fn drain(&self) {
        let all: Vec<WarmSandbox> = self.with(|ready| {
            ready
                .values_mut()
                .flat_map(|queue| queue.drain(..))
                .collect()
        });
        for warm in all {
            let _ = warm.sandbox.destroy().await;
        }
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Keep the pool full until the engine is dropped or shut down.
pub(crate) async fn refill_loop(context: Weak<Context>, pool: Weak<Pool>) {
    loop {
        let (Some(engine), Some(pool)) = (context.upgrade(), pool.upgrade()) else {
            return;
        };
        if engine.is_shutting_down() {
            return;
        }
        let Some(language_id) = pool.neediest() else {
            let wake = pool.wake.clone();
            drop((engine, pool));
            wake.notified().await;
            continue;
        };
        let Some(language) = engine.registry.get(&language_id).cloned() else {
            return;
        };
        if language.compiled && language.warm_start().is_some() {
            // A warm compiler takes seconds to warm up: prepare it aside, so that the other
            // languages' refills do not wait for it.
            pool.set_warming(&language_id, 1);
            tokio::spawn(prepare_aside(
                Arc::downgrade(&engine),
                Arc::downgrade(&pool),
                language,
            ));
            continue;
        }
        match prepare(&engine, &language).await {
            Ok(warm) => {
                if engine.is_shutting_down() {
                    let _ = warm.sandbox.destroy().await;
                    return;
                }
                pool.refills.succeeded(&language_id);
                pool.with(|ready| {
                    ready.entry(language_id).or_default().push_back(warm);
                });
            }
            Err(_) if engine.is_shutting_down() => return,
            Err(error) => {
                let pause = pool.refills.failed(&language_id, &error.to_string());
                tracing::warn!(language = %language_id, %error, ?pause, "warm pool refill failed");
                drop((engine, pool));
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Prepare a warm compiler in a task of its own and add it to the pool when it is ready.
async fn prepare_aside(context: Weak<Context>, pool: Weak<Pool>, language: Language) {
    let (Some(engine), Some(ready_pool)) = (context.upgrade(), pool.upgrade()) else {
        return;
    };
    let prepared = prepare(&engine, &language).await;
    ready_pool.set_warming(&language.id, -1);
    match prepared {
        Ok(warm) if engine.is_shutting_down() => {
            let _ = warm.sandbox.destroy().await;
        }
        Ok(warm) => {
            ready_pool.refills.succeeded(&language.id);
            ready_pool.with(|ready| {
                ready
                    .entry(language.id.clone())
                    .or_default()
                    .push_back(warm);
            });
        }
        Err(_) if engine.is_shutting_down() => {}
        Err(error) => {
            let pause = ready_pool.refills.failed(&language.id, &error.to_string());
            tracing::warn!(language = %language.id, %error, ?pause, "warm compiler refill failed");
            drop((engine, ready_pool));
            tokio::time::sleep(pause).await;
            if let Some(pool) = pool.upgrade() {
                pool.wake();
            }
        }
    }
}

/// Create a sandbox for `language` and start its warm driver. A compiled language's driver
/// is its compiler, so its sandbox starts with the compile step's limits.
async fn prepare(engine: &Arc<Context>, language: &Language) -> Result<WarmSandbox, EngineError> {
    let limits = engine.config.default_limits.at_least_floors_of(language);
    let (memory_bytes, pids) = if language.compiled && language.warm_start().is_some() {
        let compile = language.compile_limits();
        (compile.memory_bytes, compile.pids)
    } else {
        (limits.memory_bytes, limits.pids)
    };
    let spec = engine.sandbox_spec(language, memory_bytes, pids);
    let sandbox = engine.backend.create(&spec).await?;
    let warm = match language.warm_start() {
        Some(warm_start) => match start_driver(engine, language, &sandbox, warm_start).await {
            Ok(process) => Some(process),
            Err(error) => {
                let _ = sandbox.destroy().await;
                return Err(error);
            }
        },
        None => None,
    };
    Ok(WarmSandbox {
        sandbox,
        warm,
        memory_bytes,
    })
}

async fn start_driver(
    engine: &Context,
    language: &Language,
    sandbox: &Sandbox,
    warm_start: runnel_languages::WarmStart,
) -> Result<WarmProcess, EngineError> {
    let limits = engine.config.default_limits.at_least_floors_of(language);
    let (env, cpu_time) = if language.compiled {
        let compile = language.compile_limits();
        (
            language.compile_environment(compile.memory_bytes),
            compile.wall,
        )
    } else {
        (language.run_environment(limits.memory_bytes), limits.cpu)
    };
    sandbox
        .write_files(&[FileEntry {
            path: warm_start.driver_file.clone(),
            contents: warm_start.driver_source.as_bytes().to_vec(),
            executable: false,
        }])
        .await?;
    let command = CommandSpec {
        argv: warm_start.argv.clone(),
        env,
        cwd: crate::backend::WORK_DIR.to_owned(),
        stdio: StdioMode::Pipes,
        cpu_time: Some(cpu_time),
        file_size: engine.config.work_bytes,
        extra_pipes: if language.compiled {
            vec![ExtraPipe::Read, ExtraPipe::Write]
        } else {
            vec![ExtraPipe::Read]
        },
    };
    let mut process = sandbox.start(&command).await?;
    if language.compiled {
        // A warm compiler spends seconds warming up: it is ready, and so counted in the pool,
        // only once it says so on fd 4.
        let ready = match process.extra.pop() {
            Some(ExtraEnd::Receiver(receiver)) => receiver,
            _ => return Err(missing_pipe("readiness")),
        };
        wait_until_ready(ready, language.compile_limits().wall).await?;
    }
    let launch = match process.extra.pop() {
        Some(ExtraEnd::Sender(sender)) => sender,
        _ => return Err(missing_pipe("launch")),
    };
    Ok(WarmProcess { process, launch })
}

fn missing_pipe(which: &str) -> EngineError {
    EngineError::Unavailable(format!("warm driver started without its {which} pipe"))
}

/// Wait for the driver's readiness line on `ready` (closed right after by the driver).
async fn wait_until_ready(
    mut ready: tokio::net::unix::pipe::Receiver,
    within: Duration,
) -> Result<(), EngineError> {
    use tokio::io::AsyncReadExt;
    let mut byte = [0_u8; 1];
    match tokio::time::timeout(within, ready.read(&mut byte)).await {
        Ok(Ok(1)) => Ok(()),
        Ok(_) => Err(EngineError::Unavailable(
            "the warm compiler exited while warming up".to_owned(),
        )),
        Err(_) => Err(EngineError::Unavailable(format!(
            "the warm compiler was not ready within {} s",
            within.as_secs()
        ))),
    }
}
