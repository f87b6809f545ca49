//! One run, from sandbox to outcome: take a sandbox, write the files, compile through the
//! cache, run with stdin and signals wired, map what the sandbox reports to a status.

mod compile;
mod files;
mod outcome;
mod supervise;

use std::sync::Arc;
use std::time::{Duration, Instant};

use runnel_languages::Language;
use runnel_protocol::{RunStatus, Stage};
use runnel_sandbox::{CommandSpec, FileEntry, Outcome, StdioMode};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::backend::{Process, Sandbox};
use crate::context::Context;
use crate::error::EngineError;
use crate::input::{RunInput, StdinChunk};
use crate::output::OutputBudget;
use crate::pool::{RunPool, WarmProcess};
use crate::run::{RunEvent, RunOutcome, RunRequest};

use compile::Compiled;
pub(crate) use files::prepare_files;
pub(crate) use outcome::{internal_error, outcome_of_error};
use outcome::{name_limits_hit_by_orphans, name_output_limit_read_late, outcome_of};
use supervise::drain;
pub(crate) use supervise::spawn_stdin_writer;

use crate::backend::WORK_DIR;

/// How long output may still drain after the program's process group is gone.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// How long to wait for the pipes to close after the program exited before assuming that
/// orphans hold them and destroying the sandbox first.
const ORPHAN_GRACE: Duration = Duration::from_millis(20);

/// Everything one run needs; consumed by [`Run::execute`].
pub(crate) struct Run {
    pub(crate) context: Arc<Context>,
    /// Where a one-shot run takes a warm sandbox from (none for a session's run).
    pub(crate) pool: Option<Arc<RunPool>>,
    pub(crate) language: Language,
    pub(crate) files: Vec<FileEntry>,
    pub(crate) request: RunRequest,
    pub(crate) events: mpsc::Sender<RunEvent>,
    pub(crate) input: mpsc::Receiver<RunInput>,
    /// Whether the compile goes through the shared compile cache: only for a fresh sandbox
    /// that holds the sources alone (a one-shot run), never for a session's sandbox, whose
    /// files and processes could change what the compile leaves.
    pub(crate) cache: CacheUse,
}

/// Whether a run's compile may read and write the compile cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheUse {
    /// A fresh sandbox with the sources alone: look up, and store what the compile leaves.
    Shared,
    /// A sandbox with other state in it (a session's): compile in place, cache nothing.
    Bypass,
}

/// What a run in its sandbox came to, before its output has all been read.
struct Ran {
    outcome: RunOutcome,
    /// The tasks still reading the program's output.
    pumps: Vec<JoinHandle<()>>,
    /// The run step's output budget (none when the compile failed).
    budget: Option<Arc<OutputBudget>>,
}

/// What one step (compile or run) came to.
struct StepResult {
    outcome: Outcome,
    killed_by_request: bool,
    output_exceeded: bool,
    pumps: Vec<JoinHandle<()>>,
}

impl Run {
    /// Run to the end and send `Exit` last, whatever happens.
    #[tracing::instrument(name = "run", skip_all, fields(id = %self.request.id, language = %self.language.id))]
    pub(crate) async fn execute(mut self) {
        let started = Instant::now();
        let _ = self.events.send(RunEvent::Started).await;
        let outcome = match self.execute_steps().await {
            Ok(outcome) => outcome,
            Err(error) if self.context.is_shutting_down() => {
                tracing::debug!(%error, "run ended by the shutdown");
                internal_error("the server shut down during the run".to_owned())
            }
            Err(error) => outcome_of_error(&error, "run"),
        };
        self.context
            .stats
            .run_finished(&self.language.id, outcome.status, started.elapsed());
        let _ = self.events.send(RunEvent::Exit(outcome)).await;
    }

    /// Run in a sandbox the caller keeps (a session's): files written, compiled (through the
    /// cache only if `cache` says so), run; the sandbox is not destroyed. Sends `Exit` last,
    /// whatever happens.
    pub(crate) async fn execute_in(mut self, sandbox: &Sandbox) {
        let started = Instant::now();
        let _ = self.events.send(RunEvent::Started).await;
        let outcome = match self.in_sandbox(sandbox, None).await {
            Ok(Ran {
                mut outcome,
                pumps,
                budget,
            }) => {
                for pump in pumps {
                    // A background process of the session may hold the pipes open.
                    let _ = tokio::time::timeout(DRAIN_GRACE, pump).await;
                }
                name_output_limit_read_late(&mut outcome, budget.as_deref(), &self.request.limits);
                outcome
            }
            Err(error) => outcome_of_error(&error, "session run"),
        };
        self.context
            .stats
            .run_finished(&self.language.id, outcome.status, started.elapsed());
        let _ = self.events.send(RunEvent::Exit(outcome)).await;
    }

    async fn execute_steps(&mut self) -> Result<RunOutcome, EngineError> {
        // Room for the sandbox's memory limit first (in order), then a run slot: both are
        // held until the sandbox is gone.
        let memory = crate::memory::sandbox_memory(&self.language, &self.request.limits);
        let committed = self.context.memory.commit_run(memory).await?;
        let slot = self
            .context
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| EngineError::Unavailable("the engine is closed".to_owned()))?;
        let slot = (slot, committed);
        let limits = self.request.limits;
        let (sandbox, warm) = self.take_sandbox().await?;
        let result = self.in_sandbox(&sandbox, warm).await;
        let Ran {
            mut outcome,
            mut pumps,
            budget,
        } = match result {
            Ok(ran) => ran,
            Err(error) => {
                destroy_in_background(Arc::clone(&self.context), sandbox, slot);
                return Err(error);
            }
        };
        // The pipes close when the program exits, unless orphans still hold them: wait for
        // the output briefly, and only then send the outcome, before the teardown.
        if drain(&mut pumps, ORPHAN_GRACE).await {
            name_limits_hit_by_orphans(&sandbox, &mut outcome, &limits);
            destroy_in_background(Arc::clone(&self.context), sandbox, slot);
        } else {
            name_limits_hit_by_orphans(&sandbox, &mut outcome, &limits);
            // One sandbox, one run: destroying it ends the orphans and closes their pipes.
            match sandbox.destroy().await {
                Ok(()) => {}
                Err(error) if self.context.is_shutting_down() => {
                    tracing::debug!(%error, "sandbox destroy at shutdown");
                }
                Err(error) => tracing::error!(%error, "sandbox destroy failed"),
            }
            drop(slot);
            if !drain(&mut pumps, DRAIN_GRACE).await {
                tracing::warn!("output still draining after the sandbox was destroyed");
            }
        }
        name_output_limit_read_late(&mut outcome, budget.as_deref(), &limits);
        if outcome.status == RunStatus::Timeout && outcome.message.is_none() {
            outcome.message = Some(format!(
                "wall-clock limit of {} ms",
                limits.wall.as_millis()
            ));
        }
        Ok(outcome)
    }

    async fn take_sandbox(&self) -> Result<(Sandbox, Option<WarmProcess>), EngineError> {
        let limits = self.request.limits;
        let defaults = self
            .context
            .config
            .default_limits
            .at_least_floors_of(&self.language);
        if let Some(warm) = self
            .pool
            .as_ref()
            .and_then(|pool| pool.take(&self.language.id))
        {
            self.context.stats.pool_taken(&self.language.id);
            if self.language.compiled && warm.warm.is_some() {
                // A warm compiler: the sandbox has the compile step's limits already, and the
                // run's are set after the compile.
                return Ok((warm.sandbox, warm.warm));
            }
            let needs_compile_room = self.language.compiled;
            if needs_compile_room
                || limits.memory_bytes != warm.memory_bytes
                || limits.pids != defaults.pids
            {
                warm.sandbox
                    .set_limits(limits.memory_bytes, limits.pids)
                    .await?;
            }
            // The warm interpreter was started with the default limits in its environment
            // and rlimits: only a run with those limits may use it.
            let usable = limits.memory_bytes == warm.memory_bytes
                && limits.cpu == defaults.cpu
                && self.request.compiler_args.is_empty();
            let process = if usable { warm.warm } else { None };
            return Ok((warm.sandbox, process));
        }
        let (memory, pids) = if self.language.compiled {
            let compile = self.language.compile_limits();
            (
                limits.memory_bytes.max(compile.memory_bytes),
                limits.pids.max(compile.pids),
            )
        } else {
            (limits.memory_bytes, limits.pids)
        };
        let spec = self.context.sandbox_spec(&self.language, memory, pids);
        Ok((self.context.backend.create(&spec).await?, None))
    }

    async fn in_sandbox(
        &mut self,
        sandbox: &Sandbox,
        warm: Option<WarmProcess>,
    ) -> Result<Ran, EngineError> {
        sandbox.write_files(&self.files).await?;
        let mut pending_stdin = Vec::new();
        let mut compile_time = Duration::ZERO;
        let mut cached = false;
        let warm = if self.language.compiled {
            match self.compile(sandbox, warm, &mut pending_stdin).await? {
                Compiled::Ready { time, from_cache } => {
                    compile_time = time;
                    cached = from_cache;
                }
                Compiled::Failed(outcome) => {
                    return Ok(Ran {
                        outcome,
                        pumps: Vec::new(),
                        budget: None,
                    })
                }
            }
            let limits = self.request.limits;
            sandbox.set_limits(limits.memory_bytes, limits.pids).await?;
            None
        } else {
            warm
        };
        let mut initial = pending_stdin;
        if let Some(stdin) = self.request.stdin.take() {
            initial.insert(0, StdinChunk::unbounded(stdin, false));
        }
        if self.request.close_stdin {
            initial.push(StdinChunk::unbounded(Vec::new(), true));
        }
        let names: Vec<String> = self.files.iter().map(|file| file.path.clone()).collect();
        let command = CommandSpec {
            argv: in_work_dir(self.language.run_command(&names, &self.request.args)),
            env: self
                .language
                .run_environment(self.request.limits.memory_bytes),
            cwd: WORK_DIR.to_owned(),
            stdio: StdioMode::Pipes,
            cpu_time: Some(self.request.limits.cpu),
            file_size: self.context.config.work_bytes,
            extra_pipes: Vec::new(),
        };
        let budget = OutputBudget::new(self.request.limits.output_bytes);
        let launched = Instant::now();
        let warm_launch = warm.is_some();
        let process = match warm {
            Some(warm) => {
                let line = self
                    .language
                    .warm_start()
                    .map(|start| {
                        start.launch_request(
                            names.first().map(String::as_str).unwrap_or_default(),
                            &self.request.args,
                        )
                    })
                    .unwrap_or_default();
                launch_warm(warm, line, sandbox, &command).await?
            }
            None => sandbox.start(&command).await?,
        };
        let mut step = self
            .supervise(
                process,
                Stage::Run,
                self.request.limits.wall,
                initial,
                &budget,
                &mut Vec::new(),
            )
            .await?;
        if warm_launch {
            // The sandbox times the driver from its start, long before the program arrived.
            step.outcome.wall_time = launched.elapsed();
        }
        let outcome = outcome_of(&step, compile_time, cached, &self.request);
        Ok(Ran {
            outcome,
            pumps: step.pumps,
            budget: Some(budget),
        })
    }
}

/// A run's slot and its committed memory, held until its sandbox is gone.
type Slot = (tokio::sync::OwnedSemaphorePermit, crate::memory::Committed);

/// Tear a sandbox down after its run has been answered; the run's slot is held until then.
fn destroy_in_background(inner: Arc<Context>, sandbox: Sandbox, slot: Slot) {
    tokio::spawn(async move {
        match sandbox.destroy().await {
            Ok(()) => {}
            // The spawner went first and took every sandbox with it.
            Err(error) if inner.is_shutting_down() => {
                tracing::debug!(%error, "sandbox destroy at shutdown");
            }
            Err(error) => tracing::error!(%error, "sandbox destroy failed"),
        }
        drop(slot);
    });
}

/// Commands may name a program relative to the work dir (`./main`); the sandbox wants
/// absolute paths, since nothing searches a `PATH` there.
fn in_work_dir(mut argv: Vec<String>) -> Vec<String> {
    if let Some(program) = argv.first_mut() {
        if let Some(relative) = program.strip_prefix("./") {
            *program = format!("{WORK_DIR}/{relative}");
        }
    }
    argv
}

/// Send the launch request to a warm driver: the program's files are in place now. A driver
/// that died while it waited in the pool (its launch pipe is broken) is replaced by a cold
/// start of `command` in the same sandbox, which nothing else has used.
async fn launch_warm(
    mut warm: WarmProcess,
    line: String,
    sandbox: &Sandbox,
    command: &CommandSpec,
) -> Result<Process, EngineError> {
    if let Err(error) = warm.launch.write_all(line.as_bytes()).await {
        tracing::warn!(%error, "a warm driver died while pooled; starting the command cold");
        compile::stop_unused(Some(warm)).await;
        return Ok(sandbox.start(command).await?);
    }
    // Closing the launch pipe tells the driver nothing more comes.
    drop(warm.launch);
    Ok(warm.process)
}
