//! The compile step: through the compile cache when the run may share it, with the pool's warm
//! compiler when there is one, keeping only the declared artifacts.

use std::time::{Duration, Instant};

use runnel_protocol::{RunStatus, Stage};
use runnel_sandbox::{CommandSpec, FileEntry, LimitHit, SandboxError, StdioMode};

use crate::backend::Sandbox;

use super::outcome::compile_failure;
use super::{in_work_dir, launch_warm, CacheUse, Run, DRAIN_GRACE};
use crate::backend::WORK_DIR;
use crate::cache::{cache_key, CacheKey, MAX_ENTRY_BYTES};
use crate::error::EngineError;
use crate::input::StdinChunk;
use crate::output::OutputBudget;
use crate::pool::WarmProcess;
use crate::run::{RunOutcome, Signal};

impl Run {
    /// Compile through the cache, with the warm compiler `warm` when the pool had one (it is
    /// stopped unused on a cache hit).
    pub(super) async fn compile(
        &mut self,
        sandbox: &Sandbox,
        warm: Option<WarmProcess>,
        pending_stdin: &mut Vec<StdinChunk>,
    ) -> Result<Compiled, EngineError> {
        // With the cache: the key, and its lock held until the compile is stored.
        let (key, _held) = match self.cache {
            CacheUse::Shared => {
                let key = cache_key(
                    &self.request.owner,
                    &self.language.toolchain_key(),
                    &self.files,
                    &self.request.compiler_args,
                );
                let held = self.context.cache.key_lock(&key).lock_owned().await;
                if let Some(artifacts) = self.context.cache.get(&key) {
                    self.context.stats.cache(true);
                    stop_unused(warm).await;
                    sandbox.write_files(&artifacts).await?;
                    return Ok(Compiled::Ready {
                        time: Duration::ZERO,
                        from_cache: true,
                    });
                }
                self.context.stats.cache(false);
                (Some(key), Some(held))
            }
            CacheUse::Bypass => (None, None),
        };
        let compile_limits = self.language.compile_limits();
        sandbox
            .set_limits(compile_limits.memory_bytes, compile_limits.pids)
            .await?;
        let names: Vec<String> = self.files.iter().map(|file| file.path.clone()).collect();
        let Some(argv) = self
            .language
            .compile_command(&names, &self.request.compiler_args)
        else {
            stop_unused(warm).await;
            return Ok(Compiled::Ready {
                time: Duration::ZERO,
                from_cache: false,
            });
        };
        let warm_line = warm.as_ref().and(self.language.warm_start()).map(|start| {
            let compiler_args = argv.get(1..).unwrap_or_default();
            start.launch_request("", compiler_args)
        });
        let command = CommandSpec {
            argv: in_work_dir(argv),
            env: self
                .language
                .compile_environment(compile_limits.memory_bytes),
            cwd: WORK_DIR.to_owned(),
            stdio: StdioMode::Pipes,
            cpu_time: Some(compile_limits.wall),
            file_size: self.context.config.work_bytes,
            extra_pipes: Vec::new(),
        };
        // Compiler output does not count against the program's output limit, but it is
        // bounded all the same.
        let budget = OutputBudget::new(self.request.limits.output_bytes.max(256 << 10));
        let launched = Instant::now();
        let process = match (warm, warm_line) {
            (Some(warm), Some(line)) => launch_warm(warm, line, sandbox, &command).await?,
            (warm, _) => {
                stop_unused(warm).await;
                sandbox.start(&command).await?
            }
        };
        let closed_stdin = vec![StdinChunk::unbounded(Vec::new(), true)];
        let mut step = self
            .supervise(
                process,
                Stage::Compile,
                compile_limits.wall,
                closed_stdin,
                &budget,
                pending_stdin,
            )
            .await?;
        // A warm compiler's clock started with the pool, not with this compile.
        step.outcome.wall_time = step.outcome.wall_time.min(launched.elapsed());
        for pump in step.pumps {
            let _ = tokio::time::timeout(DRAIN_GRACE, pump).await;
        }
        let outcome = &step.outcome;
        let succeeded = outcome.exit_code == Some(0) && outcome.limit.is_none();
        if step.killed_by_request {
            return Ok(Compiled::Failed(RunOutcome {
                status: RunStatus::Killed,
                message: Some("killed during compilation".to_owned()),
                ..compile_failure(outcome)
            }));
        }
        if !succeeded {
            let message = match outcome.limit {
                Some(LimitHit::Wall) => format!(
                    "compilation exceeded its time limit of {} ms",
                    compile_limits.wall.as_millis()
                ),
                Some(LimitHit::Memory) => "compilation exceeded its memory limit".to_owned(),
                Some(LimitHit::Cpu) => "compilation exceeded its CPU limit".to_owned(),
                Some(LimitHit::Pids) => "compilation exceeded its process limit".to_owned(),
                None => "compilation failed".to_owned(),
            };
            return Ok(Compiled::Failed(RunOutcome {
                message: Some(message),
                ..compile_failure(outcome)
            }));
        }
        if let Some(key) = &key {
            self.store_artifacts(sandbox, key).await;
        }
        Ok(Compiled::Ready {
            time: outcome.wall_time,
            from_cache: false,
        })
    }

    /// Keep what the compile left that the language declares as its artifacts, at most
    /// [`MAX_ENTRY_BYTES`]; anything else in the work dir is never read. A compile that left
    /// more is not cached (its run goes on from the sandbox it compiled in).
    async fn store_artifacts(&self, sandbox: &Sandbox, key: &CacheKey) {
        let language = self.language.clone();
        let read = sandbox
            .read_tree_matching(MAX_ENTRY_BYTES, move |path| language.is_artifact(path))
            .await;
        let tree = match read {
            Ok(tree) => tree,
            Err(SandboxError::TreeTooLarge { .. }) => {
                tracing::debug!(
                    max_bytes = MAX_ENTRY_BYTES,
                    "compiled artifacts too large to cache"
                );
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "compiled artifacts unreadable; not cached");
                return;
            }
        };
        let artifacts: Vec<FileEntry> = tree
            .into_iter()
            .filter(|entry| !self.files.iter().any(|source| source == entry))
            .collect();
        if artifacts.is_empty() {
            tracing::debug!("the compile left none of its declared artifacts; not cached");
            return;
        }
        if let Err(error) = self.context.cache.put(key, &artifacts) {
            tracing::warn!(%error, "compile cache write failed");
        }
    }
}

pub(super) enum Compiled {
    Ready { time: Duration, from_cache: bool },
    Failed(RunOutcome),
}

/// Stop a warm driver that will not be used, before anything else runs in its sandbox.
pub(super) async fn stop_unused(warm: Option<WarmProcess>) {
    let Some(mut warm) = warm else { return };
    let _ = warm.process.signal(Signal::Kill.number());
    drop(warm.launch);
    let deadline = tokio::time::Instant::now() + DRAIN_GRACE;
    let _ = warm.process.wait(Some(deadline)).await;
}
