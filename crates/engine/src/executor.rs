//! One run, from sandbox to outcome: take a sandbox, write the files, compile through the
//! cache, run with stdin and signals wired, map what the sandbox reports to a status.

mod files;
mod outcome;

use std::sync::Arc;
use std::time::{Duration, Instant};

use runnel_languages::Language;
use runnel_protocol::{RunStatus, Stage, StreamName};
use runnel_sandbox::{
    CommandSpec, FileEntry, LimitHit, Outcome, Process, Sandbox, SandboxError, StdioMode,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cache::{cache_key, CacheKey, MAX_ENTRY_BYTES};
use crate::engine::Inner;
use crate::error::EngineError;
use crate::input::{RunInput, StdinChunk};
use crate::output::{pump, OutputBudget};
use crate::pool::WarmProcess;
use crate::run::{RunEvent, RunOutcome, RunRequest, Signal};

pub(crate) use files::prepare_files;
pub(crate) use outcome::internal_error;
use outcome::{compile_failure, name_limits_hit_by_orphans, outcome_of};

/// The program's working directory (and `HOME`) inside the sandbox.
pub(crate) const WORK_DIR: &str = "/work";

/// How long output may still drain after the program's process group is gone.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// How long to wait for the pipes to close after the program exited before assuming that
/// orphans hold them and destroying the sandbox first.
const ORPHAN_GRACE: Duration = Duration::from_millis(20);

/// Everything one run needs; consumed by [`Run::execute`].
pub(crate) struct Run {
    pub(crate) inner: Arc<Inner>,
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
            Err(error) if self.inner.is_shutting_down() => {
                tracing::debug!(%error, "run ended by the shutdown");
                internal_error("the server shut down during the run".to_owned())
            }
            Err(error) => {
                tracing::error!(%error, "run failed inside the engine");
                internal_error(format!("engine error: {error}"))
            }
        };
        self.inner
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
            Ok((outcome, pumps)) => {
                for pump in pumps {
                    // A background process of the session may hold the pipes open.
                    let _ = tokio::time::timeout(DRAIN_GRACE, pump).await;
                }
                outcome
            }
            Err(error) => {
                tracing::error!(%error, "session run failed inside the engine");
                internal_error(format!("engine error: {error}"))
            }
        };
        self.inner
            .stats
            .run_finished(&self.language.id, outcome.status, started.elapsed());
        let _ = self.events.send(RunEvent::Exit(outcome)).await;
    }

    async fn execute_steps(&mut self) -> Result<RunOutcome, EngineError> {
        // Room for the sandbox's memory limit first (in order), then a run slot: both are
        // held until the sandbox is gone.
        let memory = crate::memory::sandbox_memory(&self.language, &self.request.limits);
        let committed = self.inner.memory.commit_run(memory).await?;
        let slot = self
            .inner
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| EngineError::Unavailable("the engine is closed".to_owned()))?;
        let slot = (slot, committed);
        let limits = self.request.limits;
        let (sandbox, warm) = self.take_sandbox().await?;
        let result = self.in_sandbox(&sandbox, warm).await;
        let (mut outcome, mut pumps) = match result {
            Ok(done) => done,
            Err(error) => {
                destroy_in_background(Arc::clone(&self.inner), sandbox, slot);
                return Err(error);
            }
        };
        // The pipes close when the program exits, unless orphans still hold them: wait for
        // the output briefly, and only then send the outcome, before the teardown.
        if drain(&mut pumps, ORPHAN_GRACE).await {
            name_limits_hit_by_orphans(&sandbox, &mut outcome, &limits);
            destroy_in_background(Arc::clone(&self.inner), sandbox, slot);
        } else {
            name_limits_hit_by_orphans(&sandbox, &mut outcome, &limits);
            // One sandbox, one run: destroying it ends the orphans and closes their pipes.
            match sandbox.destroy().await {
                Ok(()) => {}
                Err(error) if self.inner.is_shutting_down() => {
                    tracing::debug!(%error, "sandbox destroy at shutdown");
                }
                Err(error) => tracing::error!(%error, "sandbox destroy failed"),
            }
            drop(slot);
            if !drain(&mut pumps, DRAIN_GRACE).await {
                tracing::warn!("output still draining after the sandbox was destroyed");
            }
        }
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
        let defaults = self.inner.config.default_limits;
        if let Some(warm) = self.inner.pool.take(&self.language.id) {
            self.inner.stats.pool_taken(&self.language.id);
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
                let memory = limits.memory_bytes.max(self.language.min_memory_bytes);
                warm.sandbox
                    .set_limits(memory, limits.pids.max(self.language.min_pids))
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
        let spec = self.inner.sandbox_spec(&self.language, memory, pids);
        Ok((self.inner.spawner.create(&spec).await?, None))
    }

    async fn in_sandbox(
        &mut self,
        sandbox: &Sandbox,
        warm: Option<WarmProcess>,
    ) -> Result<(RunOutcome, Vec<JoinHandle<()>>), EngineError> {
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
                Compiled::Failed(outcome) => return Ok((outcome, Vec::new())),
            }
            let limits = self.request.limits;
            sandbox
                .set_limits(
                    limits.memory_bytes.max(self.language.min_memory_bytes),
                    limits.pids.max(self.language.min_pids),
                )
                .await?;
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
            file_size: self.inner.config.work_bytes,
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
                launch_warm(warm, line).await?
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
        Ok((outcome, step.pumps))
    }

    /// Compile through the cache, with the warm compiler `warm` when the pool had one (it is
    /// stopped unused on a cache hit).
    async fn compile(
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
                let held = self.inner.cache.key_lock(&key).lock_owned().await;
                if let Some(artifacts) = self.inner.cache.get(&key) {
                    self.inner.stats.cache(true);
                    stop_unused(warm).await;
                    sandbox.write_files(&artifacts).await?;
                    return Ok(Compiled::Ready {
                        time: Duration::ZERO,
                        from_cache: true,
                    });
                }
                self.inner.stats.cache(false);
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
            file_size: self.inner.config.work_bytes,
            extra_pipes: Vec::new(),
        };
        // Compiler output does not count against the program's output limit, but it is
        // bounded all the same.
        let budget = OutputBudget::new(self.request.limits.output_bytes.max(256 << 10));
        let launched = Instant::now();
        let process = match (warm, warm_line) {
            (Some(warm), Some(line)) => launch_warm(warm, line).await?,
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
        if let Err(error) = self.inner.cache.put(key, &artifacts) {
            tracing::warn!(%error, "compile cache write failed");
        }
    }

    /// Wire stdin, signals and output of a started process and wait for it.
    async fn supervise(
        &mut self,
        mut process: Process,
        stage: Stage,
        wall: Duration,
        initial_stdin: Vec<StdinChunk>,
        budget: &Arc<OutputBudget>,
        held_stdin: &mut Vec<StdinChunk>,
    ) -> Result<StepResult, EngineError> {
        let started = tokio::time::Instant::now();
        let deadline = started + wall;
        let mut pumps = Vec::new();
        if let Some(stdout) = process.stdout.take() {
            pumps.push(tokio::spawn(pump(
                stdout,
                stage,
                StreamName::Stdout,
                budget.clone(),
                self.events.clone(),
            )));
        }
        if let Some(stderr) = process.stderr.take() {
            pumps.push(tokio::spawn(pump(
                stderr,
                stage,
                StreamName::Stderr,
                budget.clone(),
                self.events.clone(),
            )));
        }
        let stdin = spawn_stdin_writer(process.stdin.take(), initial_stdin);
        let mut killed_by_request = false;
        let mut output_exceeded = false;
        let mut client_gone = false;
        // Input ends when every controller is gone, which may be seen before the event
        // channel's close: it must not disable the watch on the latter (the run would then go
        // on to its wall limit with nobody reading).
        let mut input_open = true;
        let outcome = loop {
            tokio::select! {
                outcome = process.wait(Some(deadline)) => break outcome?,
                input = self.input.recv(), if input_open => match input {
                    // Held or queued, the chunk still counts against the run's stdin bound
                    // until it is written to the program.
                    Some(RunInput::Stdin(chunk)) => {
                        if stage == Stage::Compile {
                            held_stdin.push(chunk);
                        } else if let Some(stdin) = &stdin {
                            let _ = stdin.send(chunk);
                        }
                    }
                    Some(RunInput::Signal(signal)) => {
                        killed_by_request = true;
                        let number = if stage == Stage::Compile {
                            Signal::Kill.number()
                        } else {
                            signal.number()
                        };
                        signal_quietly(&process, number);
                    }
                    None => input_open = false,
                },
                () = budget.exceeded_notify.notified(), if !output_exceeded => {
                    output_exceeded = true;
                    signal_quietly(&process, Signal::Kill.number());
                }
                () = self.events.closed(), if !client_gone => {
                    client_gone = true;
                    signal_quietly(&process, Signal::Kill.number());
                }
            }
        };
        drop(stdin);
        // A signal the client sent only counts as the cause if a signal ended the program.
        let killed_by_request = killed_by_request && outcome.signal.is_some();
        Ok(StepResult {
            outcome,
            killed_by_request,
            output_exceeded: output_exceeded || budget.exceeded(),
            pumps,
        })
    }
}

enum Compiled {
    Ready { time: Duration, from_cache: bool },
    Failed(RunOutcome),
}

/// Wait up to `grace` for every output pump to finish; true when all did.
async fn drain(pumps: &mut [JoinHandle<()>], grace: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + grace;
    for pump in pumps.iter_mut() {
        if pump.is_finished() {
            continue;
        }
        if tokio::time::timeout_at(deadline, pump).await.is_err() {
            return false;
        }
    }
    true
}

/// A run's slot and its committed memory, held until its sandbox is gone.
type Slot = (tokio::sync::OwnedSemaphorePermit, crate::memory::Committed);

/// Tear a sandbox down after its run has been answered; the run's slot is held until then.
fn destroy_in_background(inner: Arc<Inner>, sandbox: Sandbox, slot: Slot) {
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

/// Signal a process that may already have exited (then there is nothing to do).
fn signal_quietly(process: &Process, number: i32) {
    if let Err(error) = process.signal(number) {
        tracing::debug!(%error, number, "signal not delivered");
    }
}

/// Send the launch request to a warm driver: the program's files are in place now.
/// Stop a warm driver that will not be used, before anything else runs in its sandbox.
async fn stop_unused(warm: Option<WarmProcess>) {
    let Some(mut warm) = warm else { return };
    let _ = warm.process.signal(Signal::Kill.number());
    drop(warm.launch);
    let deadline = tokio::time::Instant::now() + DRAIN_GRACE;
    let _ = warm.process.wait(Some(deadline)).await;
}

async fn launch_warm(mut warm: WarmProcess, line: String) -> Result<Process, EngineError> {
    warm.launch
        .write_all(line.as_bytes())
        .await
        .map_err(|source| EngineError::Io {
            path: "warm driver launch pipe".into(),
            source,
        })?;
    // Closing the launch pipe tells the driver nothing more comes.
    drop(warm.launch);
    Ok(warm.process)
}

/// A task that writes stdin in order without ever blocking the run's control loop. The queue
/// is bounded by the chunks' charges (see [`crate::input`]), each released once written.
pub(crate) fn spawn_stdin_writer(
    pipe: Option<tokio::net::unix::pipe::Sender>,
    initial: Vec<StdinChunk>,
) -> Option<mpsc::UnboundedSender<StdinChunk>> {
    let mut pipe = pipe?;
    let (sender, mut receiver) = mpsc::unbounded_channel::<StdinChunk>();
    for item in initial {
        let _ = sender.send(item);
    }
    tokio::spawn(async move {
        while let Some(mut chunk) = receiver.recv().await {
            if !chunk.data.is_empty() && pipe.write_all(&chunk.data).await.is_err() {
                return; // the program closed its stdin
            }
            if let Some(written) = chunk.written.take() {
                let _ = written.send(());
            }
            if chunk.eof {
                return; // dropping the pipe closes the program's stdin
            }
        }
    });
    Some(sender)
}
