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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use runnel_sandbox::{
    CommandSpec, Counters, ExtraEnd, FileEntry, SandboxError, SandboxSpec, SpawnerHealth,
};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};

use super::{Backend, BoxFuture, Sandbox};

mod process;
mod sandbox;

use sandbox::FakeSandbox;

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
