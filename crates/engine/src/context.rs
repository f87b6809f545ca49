//! [`Context`]: what every run, session and pool of the engine shares: the settings, the
//! languages, the sandbox backend, the compile cache, the counters, the run slots, the memory
//! budget and whether the engine is shutting down. The pools and the session registry hold it;
//! it holds none of them, so the engine's parts all stand on it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use runnel_languages::{Language, Registry};
use runnel_sandbox::{Bind, SandboxSpec};
use tokio::sync::Semaphore;

use crate::backend::Backend;
use crate::cache::CompileCache;
use crate::config::EngineConfig;
use crate::memory::MemoryBudget;
use crate::stats::StatsRecorder;

/// Shared by every part of one engine.
pub(crate) struct Context {
    pub(crate) config: EngineConfig,
    pub(crate) registry: Registry,
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) cache: CompileCache,
    pub(crate) stats: StatsRecorder,
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) memory: MemoryBudget,
    shutting_down: AtomicBool,
}

impl Context {
    pub(crate) fn new(
        config: EngineConfig,
        registry: Registry,
        backend: Box<dyn Backend>,
        cache: CompileCache,
        memory: MemoryBudget,
    ) -> Context {
        Context {
            slots: Arc::new(Semaphore::new(config.max_concurrent_runs.max(1))),
            config,
            registry,
            backend,
            cache,
            stats: StatsRecorder::new(),
            memory,
            shutting_down: AtomicBool::new(false),
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// From now on, new work is refused.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
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
