//! Requests, events and outcomes of one run, in domain terms.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use runnel_languages::Language;
use runnel_protocol::{RunStatus, Stage, StreamName};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::input::{InputSender, StdinRefused};
use crate::log::{Entry, EventLog, LogEvent, Subscription, EVENT_OVERHEAD_BYTES};
pub use crate::signal::{signal_name, Signal};

/// Resource limits of one run (already capped by the caller's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time of the run stage.
    pub wall: Duration,
    /// CPU time of the run stage.
    pub cpu: Duration,
    /// Memory of the sandbox, bytes.
    pub memory_bytes: u64,
    /// Processes plus threads.
    pub pids: u32,
    /// Bytes of stdout plus stderr the client may receive.
    pub output_bytes: u64,
}

impl Limits {
    /// Defaults for a run when neither the request nor the key says otherwise.
    pub const DEFAULT: Limits = Limits {
        wall: Duration::from_secs(10),
        cpu: Duration::from_secs(10),
        memory_bytes: 256 << 20,
        pids: 64,
        output_bytes: 1 << 20,
    };

    /// These limits raised to what `language` needs to start at all (its `min_memory_mb` and
    /// `min_pids`). Done once, where a request enters the engine, so the sandbox, the
    /// runtime's environment (`-Xmx{memory_mb}m`), the result's messages and the warm pools'
    /// matching all see the same figures.
    pub fn at_least_floors_of(self, language: &Language) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.max(language.min_memory_bytes),
            pids: self.pids.max(language.min_pids),
            ..self
        }
    }
}

/// When a step that started at `start` with a wall limit of `wall` must end. A limit past
/// what the clock can hold (a client's `timeout: 1e300` with no key maximum) means no end in
/// practice: a century.
pub(crate) fn deadline_after(start: tokio::time::Instant, wall: Duration) -> tokio::time::Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    start
        .checked_add(wall.min(CENTURY))
        .or_else(|| start.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(start)
}

/// One source file of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Relative path (validated: no `..`, not absolute, no NUL).
    pub name: String,
    /// The bytes.
    #[serde(with = "serde_bytes")]
    pub contents: Vec<u8>,
}

/// A request to run a program once, in a fresh sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Run id, unique per connection.
    pub id: String,
    /// The tenant (a key id) the run belongs to: what it compiles is cached for this owner
    /// only.
    pub owner: String,
    /// Language id or alias.
    pub language: String,
    /// Files; an empty name for the first file means the language's default source file name.
    pub files: Vec<SourceFile>,
    /// Stdin given up front (it is not closed unless `close_stdin`).
    #[serde(with = "serde_bytes")]
    pub stdin: Option<Vec<u8>>,
    /// Close stdin after writing `stdin` (true for one-shot HTTP runs and `stream: false`).
    pub close_stdin: bool,
    /// Program arguments.
    pub args: Vec<String>,
    /// Extra compiler flags.
    pub compiler_args: Vec<String>,
    /// Limits.
    pub limits: Limits,
    /// Bytes of its newest events the run's log keeps for a reader that comes back (at least
    /// 64 KiB; a reader that has not taken that much makes the run wait).
    pub replay_bytes: usize,
}

/// Something that happened in a run, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEvent {
    /// The run was accepted; the sandbox is being prepared.
    Started,
    /// Output. `data` never ends inside a UTF-8 character unless the bytes are not UTF-8.
    Output {
        /// Compile or run.
        stage: Stage,
        /// stdout or stderr.
        stream: StreamName,
        /// The bytes.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// The end of the run; always the last event.
    Exit(RunOutcome),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The status.
    pub status: RunStatus,
    /// Exit code of the run stage (or of the compiler on `compile_error`).
    pub exit_code: Option<i32>,
    /// Signal number that ended the program.
    pub signal: Option<i32>,
    /// Wall time of the run stage.
    pub wall_time: Duration,
    /// CPU time of the run stage.
    pub cpu_time: Duration,
    /// Peak memory of the run stage, bytes.
    pub peak_memory: u64,
    /// Wall time of the compile stage (zero without one or on a cache hit).
    pub compile_time: Duration,
    /// The compiled program came from the cache.
    pub cached: bool,
    /// Output was cut at the output limit.
    pub truncated: bool,
    /// A detail for people (which limit, what failed).
    pub message: Option<String>,
}

/// Controls a run: stdin and signals. Cheap to clone; harmless after the run ended.
#[derive(Debug, Clone)]
pub struct RunController {
    pub(crate) input: InputSender,
}

impl RunController {
    /// Write to the program's stdin, and close it after when `eof`. Refused when the run has
    /// ended, or when what was sent before still waits for the program to read it.
    pub fn write_stdin(&self, data: Vec<u8>, eof: bool) -> Result<(), StdinRefused> {
        self.input.stdin(data, eof)
    }

    /// Send a signal to the program (`Kill` ends the run with status `killed`).
    pub fn signal(&self, signal: Signal) -> bool {
        self.input.signal(signal)
    }
}

/// A run in flight: its event log, and a controller. Dropping it kills the run.
#[derive(Debug)]
pub struct RunHandle {
    /// Run id.
    pub id: String,
    /// Resolved language id.
    pub language: String,
    /// The runtime's version.
    pub version: String,
    pub(crate) log: Arc<RunLog>,
    /// The reader behind [`RunHandle::next_event`], from its first call.
    pub(crate) reader: Option<RunSubscription>,
    pub(crate) pending: VecDeque<Arc<Entry<RunEvent>>>,
    pub(crate) controller: RunController,
    /// Dropped with the handle: the run's recorder stops, and so the run.
    pub(crate) _alive: oneshot::Sender<()>,
}

/// A run's log: `Started` is event 1, `Exit` the last.
pub type RunLog = EventLog<RunEvent>;

/// A reader of a run's log.
pub type RunSubscription = Subscription<RunEvent>;

impl RunHandle {
    /// The next event; `None` after `Exit`. The first call subscribes from the start: it is
    /// then the log's latest reader (see [`RunHandle::subscribe`]).
    pub async fn next_event(&mut self) -> Option<RunEvent> {
        loop {
            if let Some(entry) = self.pending.pop_front() {
                if let Some(reader) = &self.reader {
                    reader.taken(entry.seq);
                }
                return Some(entry.kind.clone());
            }
            let log = &self.log;
            let reader = match &mut self.reader {
                Some(reader) => reader,
                None => self.reader.insert(log.subscribe(0).ok()?),
            };
            self.pending.extend(reader.next_batch().await?.ok()?);
        }
    }

    /// The run's log, to subscribe from any `seq` (see [`crate::log`]). Holding it does not
    /// keep the run alive: the handle does.
    pub fn log(&self) -> Arc<RunLog> {
        Arc::clone(&self.log)
    }

    /// A controller for stdin and signals.
    pub fn controller(&self) -> RunController {
        self.controller.clone()
    }
}

impl LogEvent for RunEvent {
    fn cost(&self) -> usize {
        EVENT_OVERHEAD_BYTES
            + match self {
                RunEvent::Output { data, .. } => data.len(),
                RunEvent::Started | RunEvent::Exit(_) => 0,
            }
    }

    fn is_last(&self) -> bool {
        matches!(self, RunEvent::Exit(_))
    }
}
