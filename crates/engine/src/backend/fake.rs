//! A [`Backend`] for the engine's tests: a sandbox is a map of files, and a program is an
//! async Rust function registered by its `argv[0]`, run as a task on real pipes. Nothing is
//! forked and nothing needs root, and every wait is on tokio's clock, so tests run with it
//! paused.
//!
//! What the kernel sandbox does that the engine relies on is done here too, in the same
//! terms: a wall deadline kills (outcome `LimitHit::Wall`), a signal a program does not trap
//! ends it, counters (`oom_kills`, `pids_max_hits`) a program raises name the limit it hit,
//! `/work` has a size, bad paths are refused, a lost spawner takes its sandboxes with it, and
//! destroying a sandbox kills what runs in it. The backend counts the sandboxes alive, so a
//! test can assert that none leaked.

use std::collections::{BTreeMap, HashMap};
use std::io::{Seek, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use runnel_sandbox::{
    CommandSpec, Counters, ExtraEnd, ExtraPipe, FileEntry, FileStat, LimitHit, Outcome,
    SandboxError, SandboxSpec, SpawnerHealth, StdioMode, TreeListing,
};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{Backend, BoxFuture, Meter, MeterOps, Process, ProcessControl, Sandbox, SandboxOps};

const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;

/// A program: what runs when a command's `argv[0]` is its name.
pub(crate) type Program = Arc<dyn Fn(Io) -> BoxFuture<'static, Exit> + Send + Sync>;

/// How a program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    pub(crate) code: Option<i32>,
    pub(crate) signal: Option<i32>,
    /// The CPU time it reports having used.
    pub(crate) cpu: Duration,
}

impl Exit {
    pub(crate) fn code(code: i32) -> Exit {
        Exit {
            code: Some(code),
            signal: None,
            cpu: Duration::ZERO,
        }
    }

    pub(crate) fn signal(signal: i32) -> Exit {
        Exit {
            code: None,
            signal: Some(signal),
            cpu: Duration::ZERO,
        }
    }
}

/// The program's side of a command: its pipes, its sandbox's files and counters.
pub(crate) struct Io {
    pub(crate) command: CommandSpec,
    pub(crate) stdin: Option<pipe::Receiver>,
    pub(crate) stdout: Option<pipe::Sender>,
    pub(crate) stderr: Option<pipe::Sender>,
    /// One per extra pipe, in order: a `Read` pipe is read here, a `Write` pipe written.
    pub(crate) extra: Vec<ExtraEnd>,
    pub(crate) files: Files,
    counters: Arc<Mutex<Counters>>,
    trap: Arc<Mutex<Option<mpsc::UnboundedSender<i32>>>>,
}

impl Io {
    /// Signals sent to the program from now on arrive here instead of ending it (`SIGKILL`
    /// still ends it).
    pub(crate) fn trap_signals(&self) -> mpsc::UnboundedReceiver<i32> {
        let (sender, receiver) = mpsc::unbounded_channel();
        *lock(&self.trap) = Some(sender);
        receiver
    }

    /// Change the sandbox's counters, as the kernel would (an OOM kill, a refused fork).
    pub(crate) fn counters(&self, change: impl FnOnce(&mut Counters)) {
        change(&mut lock(&self.counters));
    }

    /// The extra pipe at `index` that the program writes.
    pub(crate) fn extra_writer(&mut self, index: usize) -> pipe::Sender {
        match std::mem::replace(&mut self.extra[index], placeholder()) {
            ExtraEnd::Sender(sender) => sender,
            ExtraEnd::Receiver(_) => panic!("extra pipe {index} is read by the program"),
        }
    }

    /// The extra pipe at `index` that the program reads.
    pub(crate) fn extra_reader(&mut self, index: usize) -> pipe::Receiver {
        match std::mem::replace(&mut self.extra[index], placeholder()) {
            ExtraEnd::Receiver(receiver) => receiver,
            ExtraEnd::Sender(_) => panic!("extra pipe {index} is written by the program"),
        }
    }
}

fn placeholder() -> ExtraEnd {
    let (_, receiver) = pipe::pipe().expect("a pipe");
    ExtraEnd::Receiver(receiver)
}

/// A sandbox's `/work`, shared with its programs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Files(Arc<Mutex<BTreeMap<String, FileEntry>>>);

impl Files {
    pub(crate) fn get(&self, path: &str) -> Option<FileEntry> {
        lock(&self.0).get(path).cloned()
    }

    pub(crate) fn put(&self, path: &str, contents: &[u8], executable: bool) {
        lock(&self.0).insert(
            path.to_owned(),
            FileEntry {
                path: path.to_owned(),
                contents: contents.to_vec(),
                executable,
            },
        );
    }

    fn total_bytes(&self) -> u64 {
        lock(&self.0)
            .values()
            .map(|file| file.contents.len() as u64)
            .sum()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// The fake backend. Cheap to clone; clones share everything.
#[derive(Clone)]
pub(crate) struct FakeBackend {
    state: Arc<State>,
}

struct State {
    programs: Mutex<HashMap<String, Program>>,
    health: watch::Sender<SpawnerHealth>,
    /// Bumped when the spawner is lost: sandboxes of an older generation are dead.
    generation: AtomicU64,
    restarts: AtomicU64,
    next_id: AtomicU64,
    /// Specs of the sandboxes alive, by id.
    live: Mutex<BTreeMap<u64, SandboxSpec>>,
    created: AtomicU64,
    /// Creates to refuse before the next one succeeds.
    failing_creates: AtomicU64,
    shut_down: AtomicBool,
}

impl FakeBackend {
    pub(crate) fn new() -> FakeBackend {
        FakeBackend {
            state: Arc::new(State {
                programs: Mutex::new(HashMap::new()),
                health: watch::Sender::new(SpawnerHealth::Running),
                generation: AtomicU64::new(0),
                restarts: AtomicU64::new(0),
                next_id: AtomicU64::new(1),
                live: Mutex::new(BTreeMap::new()),
                created: AtomicU64::new(0),
                failing_creates: AtomicU64::new(0),
                shut_down: AtomicBool::new(false),
            }),
        }
    }

    /// Runs `program` for every command whose `argv[0]` is `name`.
    pub(crate) fn program<F>(&self, name: &str, program: impl Fn(Io) -> F + Send + Sync + 'static)
    where
        F: std::future::Future<Output = Exit> + Send + 'static,
    {
        let program: Program = Arc::new(move |io| Box::pin(program(io)));
        lock(&self.state.programs).insert(name.to_owned(), program);
    }

    /// Sandboxes alive now.
    pub(crate) fn live(&self) -> usize {
        lock(&self.state.live).len()
    }

    /// The specs of the sandboxes alive now, oldest first.
    pub(crate) fn live_specs(&self) -> Vec<SandboxSpec> {
        lock(&self.state.live).values().cloned().collect()
    }

    /// Sandboxes made so far.
    pub(crate) fn created(&self) -> u64 {
        self.state.created.load(Ordering::SeqCst)
    }

    /// Refuse the next `count` creates, as a failing spawner would.
    pub(crate) fn fail_creates(&self, count: u64) {
        self.state.failing_creates.store(count, Ordering::SeqCst);
    }

    /// The spawner dies: every sandbox alive dies with it and health says `Restarting`
    /// until [`FakeBackend::restarted`].
    pub(crate) fn lose_spawner(&self) {
        self.state.generation.fetch_add(1, Ordering::SeqCst);
        self.state.health.send_replace(SpawnerHealth::Restarting {
            attempt: 1,
            error: "the fake spawner was killed".to_owned(),
        });
    }

    /// A new spawner serves.
    pub(crate) fn restarted(&self) {
        self.state.restarts.fetch_add(1, Ordering::SeqCst);
        self.state.health.send_replace(SpawnerHealth::Running);
    }
}

impl Backend for FakeBackend {
    fn create<'a>(&'a self, spec: &'a SandboxSpec) -> BoxFuture<'a, Result<Sandbox, SandboxError>> {
        Box::pin(async move {
            let state = &self.state;
            if state.shut_down.load(Ordering::SeqCst) {
                return Err(SandboxError::SpawnerDown {
                    detail: "shut down".to_owned(),
                });
            }
            if *state.health.borrow() != SpawnerHealth::Running {
                return Err(SandboxError::SpawnerDown {
                    detail: "restarting".to_owned(),
                });
            }
            let refuse = state
                .failing_creates
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refuse {
                return Err(SandboxError::Spawner {
                    step: "create".to_owned(),
                    detail: "the fake spawner refused".to_owned(),
                    source: std::io::Error::from_raw_os_error(libc_enomem()),
                });
            }
            let id = state.next_id.fetch_add(1, Ordering::SeqCst);
            state.created.fetch_add(1, Ordering::SeqCst);
            lock(&state.live).insert(id, spec.clone());
            Ok(Sandbox::new(FakeSandbox {
                id,
                name: format!("fake-{id}"),
                generation: state.generation.load(Ordering::SeqCst),
                state: Arc::clone(&self.state),
                work_bytes: spec.work_bytes,
                limits: Mutex::new((spec.memory_bytes, spec.pids)),
                files: Files::default(),
                counters: Arc::new(Mutex::new(Counters::default())),
                alive: Arc::new(AtomicBool::new(true)),
                tasks: Mutex::new(Vec::new()),
            }))
        })
    }

    fn health(&self) -> SpawnerHealth {
        self.state.health.borrow().clone()
    }

    fn watch_health(&self) -> watch::Receiver<SpawnerHealth> {
        self.state.health.subscribe()
    }

    fn restarts(&self) -> u64 {
        self.state.restarts.load(Ordering::SeqCst)
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.state.shut_down.store(true, Ordering::SeqCst);
            self.state.generation.fetch_add(1, Ordering::SeqCst);
        })
    }
}

fn libc_enomem() -> i32 {
    12
}

/// A running program's task and how to end it.
type Task = (AbortHandle, Finisher);
type Finisher = Arc<Mutex<Option<oneshot::Sender<Exit>>>>;

fn finish(finisher: &Finisher, exit: Exit) {
    if let Some(sender) = lock(finisher).take() {
        let _ = sender.send(exit);
    }
}

#[derive(Debug)]
struct FakeSandbox {
    id: u64,
    name: String,
    generation: u64,
    state: Arc<State>,
    work_bytes: u64,
    limits: Mutex<(u64, u32)>,
    files: Files,
    counters: Arc<Mutex<Counters>>,
    alive: Arc<AtomicBool>,
    tasks: Mutex<Vec<Task>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl FakeSandbox {
    fn lost(&self) -> bool {
        self.state.generation.load(Ordering::SeqCst) != self.generation
    }

    /// Kill what runs and forget the sandbox (once).
    fn end(&self) {
        if !self.alive.swap(false, Ordering::SeqCst) {
            return;
        }
        for (abort, finisher) in lock(&self.tasks).drain(..) {
            finish(&finisher, Exit::signal(SIGKILL));
            abort.abort();
        }
        lock(&self.state.live).remove(&self.id);
    }

    fn check_path(&self, path: &str) -> Result<(), SandboxError> {
        let invalid = |reason| SandboxError::InvalidPath {
            id: self.name.clone(),
            path: path.to_owned(),
            reason,
        };
        if path.is_empty() {
            return Err(invalid("empty"));
        }
        if path.starts_with('/') {
            return Err(invalid("absolute"));
        }
        if path.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(invalid("`..` or an empty component"));
        }
        Ok(())
    }
}

impl Drop for FakeSandbox {
    fn drop(&mut self) {
        self.end();
    }
}

impl SandboxOps for FakeSandbox {
    fn spawner_lost(&self) -> bool {
        self.lost()
    }

    fn write_files<'a>(
        &'a self,
        files: &'a [FileEntry],
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            for file in files {
                self.check_path(&file.path)?;
            }
            let adding: u64 = files.iter().map(|file| file.contents.len() as u64).sum();
            if self.files.total_bytes() + adding > self.work_bytes {
                return Err(SandboxError::WriteFile {
                    id: self.name.clone(),
                    path: files.first().map(|f| f.path.clone()).unwrap_or_default(),
                    source: std::io::Error::from_raw_os_error(28),
                });
            }
            for file in files {
                self.files.put(&file.path, &file.contents, file.executable);
            }
            Ok(())
        })
    }

    fn read_tree_matching(
        &self,
        max_bytes: u64,
        keep: Box<dyn Fn(&str) -> bool + Send + 'static>,
    ) -> BoxFuture<'_, Result<Vec<FileEntry>, SandboxError>> {
        Box::pin(async move {
            let files: Vec<FileEntry> = lock(&self.files.0)
                .values()
                .filter(|file| keep(&file.path))
                .cloned()
                .collect();
            let total: u64 = files.iter().map(|file| file.contents.len() as u64).sum();
            if total > max_bytes {
                return Err(SandboxError::TreeTooLarge {
                    id: self.name.clone(),
                    max_bytes,
                });
            }
            Ok(files)
        })
    }

    fn list_tree(&self) -> BoxFuture<'_, Result<TreeListing, SandboxError>> {
        Box::pin(async move {
            let files = lock(&self.files.0)
                .values()
                .map(|file| FileStat {
                    path: file.path.clone(),
                    size: file.contents.len() as u64,
                    executable: file.executable,
                })
                .collect();
            Ok(TreeListing {
                files,
                truncated: false,
            })
        })
    }

    fn open_file<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<(std::fs::File, u64)>, SandboxError>> {
        Box::pin(async move {
            let Some(file) = self.files.get(path) else {
                return Ok(None);
            };
            let failed = |source| SandboxError::ReadFile {
                id: self.name.clone(),
                path: path.to_owned(),
                source,
            };
            let mut opened = tempfile::tempfile().map_err(failed)?;
            opened.write_all(&file.contents).map_err(failed)?;
            opened.rewind().map_err(failed)?;
            Ok(Some((opened, file.contents.len() as u64)))
        })
    }

    fn set_limits(&self, memory_bytes: u64, pids: u32) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            *lock(&self.limits) = (memory_bytes, pids);
            if let Some(spec) = lock(&self.state.live).get_mut(&self.id) {
                spec.memory_bytes = memory_bytes;
                spec.pids = pids;
            }
            Ok(())
        })
    }

    fn meter(&self) -> Meter {
        Meter::new(FakeMeter {
            counters: Arc::clone(&self.counters),
            alive: Arc::clone(&self.alive),
        })
    }

    fn start<'a>(
        &'a self,
        command: &'a CommandSpec,
    ) -> BoxFuture<'a, Result<Process, SandboxError>> {
        Box::pin(async move { self.start_now(command) })
    }

    fn destroy(self: Box<Self>) -> BoxFuture<'static, Result<(), SandboxError>> {
        Box::pin(async move {
            self.end();
            Ok(())
        })
    }
}

impl FakeSandbox {
    fn start_now(&self, command: &CommandSpec) -> Result<Process, SandboxError> {
        if self.lost() || !self.alive.load(Ordering::SeqCst) {
            return Err(SandboxError::AgentGone {
                id: self.name.clone(),
            });
        }
        let program_name = command.argv.first().cloned().unwrap_or_default();
        let Some(program) = lock(&self.state.programs).get(&program_name).cloned() else {
            return Err(SandboxError::StartCommand {
                id: self.name.clone(),
                program: program_name,
                step: "execve".to_owned(),
                source: std::io::Error::from_raw_os_error(2),
            });
        };
        let register = |source| SandboxError::Register {
            id: self.name.clone(),
            what: "fake pipe",
            source,
        };
        let (stdin, stdout, stderr) = match command.stdio {
            StdioMode::Pipes => {
                let (host_in, program_in) = pipe::pipe().map_err(register)?;
                let (program_out, host_out) = pipe::pipe().map_err(register)?;
                let (program_err, host_err) = pipe::pipe().map_err(register)?;
                (
                    (Some(host_in), Some(program_in)),
                    (Some(host_out), Some(program_out)),
                    (Some(host_err), Some(program_err)),
                )
            }
            StdioMode::Pty { .. } => {
                return Err(SandboxError::InvalidCommand {
                    id: self.name.clone(),
                    detail: "the fake backend has no terminals".to_owned(),
                })
            }
        };
        let (mut host_extra, mut program_extra) = (Vec::new(), Vec::new());
        for direction in &command.extra_pipes {
            let (sender, receiver) = pipe::pipe().map_err(register)?;
            match direction {
                ExtraPipe::Read => {
                    host_extra.push(ExtraEnd::Sender(sender));
                    program_extra.push(ExtraEnd::Receiver(receiver));
                }
                ExtraPipe::Write => {
                    host_extra.push(ExtraEnd::Receiver(receiver));
                    program_extra.push(ExtraEnd::Sender(sender));
                }
            }
        }
        let trap = Arc::new(Mutex::new(None));
        let io = Io {
            command: command.clone(),
            stdin: stdin.1,
            stdout: stdout.1,
            stderr: stderr.1,
            extra: program_extra,
            files: self.files.clone(),
            counters: Arc::clone(&self.counters),
            trap: Arc::clone(&trap),
        };
        let (exit_sender, exit) = oneshot::channel();
        let finisher: Finisher = Arc::new(Mutex::new(Some(exit_sender)));
        let task = tokio::spawn({
            let finisher = Arc::clone(&finisher);
            async move {
                let exit = program(io).await;
                finish(&finisher, exit);
            }
        });
        lock(&self.tasks).push((task.abort_handle(), Arc::clone(&finisher)));
        let control = FakeControl {
            abort: task.abort_handle(),
            finisher,
            trap,
            exit,
            started: Instant::now(),
            cpu_limit: command.cpu_time,
            counters: Arc::clone(&self.counters),
            baseline: *lock(&self.counters),
            wall_killed: false,
            outcome: None,
        };
        Ok(Process::new(
            stdin.0, stdout.0, stderr.0, None, host_extra, control,
        ))
    }
}

#[derive(Debug)]
struct FakeMeter {
    counters: Arc<Mutex<Counters>>,
    alive: Arc<AtomicBool>,
}

impl FakeMeter {
    fn read(&self) -> Result<Counters, SandboxError> {
        if !self.alive.load(Ordering::SeqCst) {
            return Err(SandboxError::ReadCgroup {
                path: "fake".to_owned(),
                source: std::io::Error::from_raw_os_error(2),
            });
        }
        Ok(*lock(&self.counters))
    }
}

impl MeterOps for FakeMeter {
    fn counters(&self) -> Result<Counters, SandboxError> {
        self.read()
    }

    fn cpu_usage(&self) -> Result<Duration, SandboxError> {
        Ok(self.read()?.cpu_usage)
    }

    fn reset_memory_peak(&self) -> Result<bool, SandboxError> {
        self.read()?;
        lock(&self.counters).memory_peak = 0;
        Ok(true)
    }
}

#[derive(Debug)]
struct FakeControl {
    abort: AbortHandle,
    finisher: Finisher,
    trap: Arc<Mutex<Option<mpsc::UnboundedSender<i32>>>>,
    exit: oneshot::Receiver<Exit>,
    started: Instant,
    cpu_limit: Option<Duration>,
    counters: Arc<Mutex<Counters>>,
    baseline: Counters,
    wall_killed: bool,
    outcome: Option<Outcome>,
}

impl FakeControl {
    fn kill(&self, signal: i32) {
        finish(&self.finisher, Exit::signal(signal));
        self.abort.abort();
    }

    fn outcome_of(&self, exit: Exit) -> Outcome {
        let now = *lock(&self.counters);
        let cpu_hit = exit.signal == Some(SIGXCPU)
            || (!self.wall_killed
                && exit.signal == Some(SIGKILL)
                && self.cpu_limit.is_some_and(|limit| exit.cpu >= limit));
        let limit = if now.oom_kills > self.baseline.oom_kills {
            Some(LimitHit::Memory)
        } else if cpu_hit {
            Some(LimitHit::Cpu)
        } else if now.pids_max_hits > self.baseline.pids_max_hits {
            Some(LimitHit::Pids)
        } else if self.wall_killed {
            Some(LimitHit::Wall)
        } else {
            None
        };
        Outcome {
            exit_code: exit.code,
            signal: exit.signal,
            limit,
            wall_time: self.started.elapsed(),
            cpu_time: exit.cpu,
            peak_memory: now.memory_peak,
        }
    }
}

impl ProcessControl for FakeControl {
    fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        if signal != SIGKILL {
            if let Some(trap) = lock(&self.trap).as_ref() {
                if trap.send(signal).is_ok() {
                    return Ok(());
                }
            }
        }
        self.kill(signal);
        Ok(())
    }

    fn wait(&mut self, deadline: Option<Instant>) -> BoxFuture<'_, Result<Outcome, SandboxError>> {
        Box::pin(async move {
            if let Some(outcome) = &self.outcome {
                return Ok(outcome.clone());
            }
            let gone = |_| SandboxError::AgentGone {
                id: "fake".to_owned(),
            };
            let exit = if self.wall_killed {
                (&mut self.exit).await.map_err(gone)?
            } else {
                let sleep = async {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    exit = &mut self.exit => exit.map_err(gone)?,
                    () = sleep => {
                        self.wall_killed = true;
                        self.kill(SIGKILL);
                        (&mut self.exit).await.map_err(gone)?
                    }
                }
            };
            let outcome = self.outcome_of(exit);
            self.outcome = Some(outcome.clone());
            Ok(outcome)
        })
    }
}
