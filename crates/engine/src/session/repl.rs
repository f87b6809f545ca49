//! The kernel: a language's session driver running in the session's sandbox, and one cell
//! (an execute) driven through it: code out on fd 3, events in on fd 4, user output read from
//! stdout and stderr up to the cell's marker, input requests answered from stdin, SIGINT for
//! interrupts, and a wall-clock and a CPU limit per cell. A cell's CPU time is what the
//! sandbox's cgroup used while it ran (what earlier cells left running counts too), and its
//! peak memory the cgroup's peak since it started.
//!
//! The driver's start (until it says `ready`, its interpreter warmed) is bounded by a deadline
//! of its own, [`DRIVER_START_TIMEOUT`]; a cell's wall-clock limit starts only when the cell is
//! sent, so a slow start never counts against the first cell.

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use runnel_languages::wire::{DriverEvent, HostMessage};
use runnel_languages::{Language, SessionDriver};
use runnel_protocol::{RunStatus, StreamName};
use runnel_sandbox::{CommandSpec, ExtraEnd, ExtraPipe, FileEntry, SandboxError, StdioMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

pub(crate) use super::wire::CellEvent;
use super::wire::{next_event, read_done, InputSync, MarkedStream};
use crate::backend::WORK_DIR;
use crate::backend::{Meter, Process, Sandbox};
use crate::error::{DriverStartError, EngineError};
use crate::input::{RunInput, StdinChunk};
use crate::run::{Limits, RunOutcome, Signal};

/// How long a driver may take to start its interpreter, warm it and say `ready`: generous,
/// since a JVM compiler's first compile on a loaded machine takes many seconds, and apart from
/// every cell's wall-clock limit.
pub(crate) const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// After an interrupt on timeout, how long the cell gets to end before the kernel is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);
/// A cell's SIGINTs closer together than this are passed on as one: a burst (Ctrl-C pressed
/// again and again, a client sending one per output event) would otherwise reach drivers
/// that take the signal on a thread of their own (BEAM, the JVM, node) after the cell has
/// ended, and stop the next one. One sent later is passed on: the cell outlived the first.
const INTERRUPT_DEBOUNCE: Duration = Duration::from_millis(500);
/// How often a running cell's CPU time is read from its cgroup.
const CPU_POLL: Duration = Duration::from_millis(20);

/// A started session driver.
pub(crate) struct Kernel {
    group: Group,
    control: pipe::Sender,
    events: BufReader<pipe::Receiver>,
    stdout: MarkedStream,
    stderr: MarkedStream,
    /// The driver's stdin, written by a task of its own so that a cell that does not read it
    /// never blocks the cell's loop; what waits there is bounded by the run's input bound.
    stdin: Option<mpsc::UnboundedSender<StdinChunk>>,
    base64_code: bool,
    /// The sandbox's counters: each cell's CPU time and peak memory (none in unit tests).
    meter: Option<Meter>,
    /// Cells sent so far: the next cell's id on the wire is `cell-{cells + 1}`.
    cells: u64,
}

/// Where the driver's signals go: its process group in the sandbox.
// The small variant exists in unit tests only; outside them there is one variant.
#[allow(clippy::large_enum_variant)]
enum Group {
    Sandboxed(Process),
    /// A unit test's driver, which records the signals sent.
    #[cfg(test)]
    Recorded(std::sync::Arc<std::sync::Mutex<Vec<i32>>>),
}

impl Group {
    fn signal(&self, number: i32) -> Result<(), SandboxError> {
        match self {
            Group::Sandboxed(process) => process.signal(number),
            #[cfg(test)]
            Group::Recorded(sent) => {
                sent.lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .push(number);
                Ok(())
            }
        }
    }
}

/// The pipes of a started driver.
struct DriverPipes {
    control: pipe::Sender,
    events: pipe::Receiver,
    stdin: Option<pipe::Sender>,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
}

/// How a cell ended, and whether the kernel survived it.
pub(crate) struct CellEnd {
    pub(crate) outcome: RunOutcome,
    pub(crate) kernel_alive: bool,
}

impl Kernel {
    /// Write the driver into the sandbox, start it and wait for `ready` (at most
    /// [`DRIVER_START_TIMEOUT`]).
    pub(crate) async fn start(
        sandbox: &Sandbox,
        language: &Language,
        driver: &SessionDriver,
        limits: Limits,
        file_size: u64,
    ) -> Result<Kernel, EngineError> {
        sandbox
            .write_files(&[FileEntry {
                path: driver.file.clone(),
                contents: driver.source.as_bytes().to_vec(),
                executable: false,
            }])
            .await?;
        let command = CommandSpec {
            argv: driver.argv.clone(),
            env: language.run_environment(limits.memory_bytes),
            cwd: WORK_DIR.to_owned(),
            stdio: StdioMode::Pipes,
            // The kernel lives as long as the session: CPU is bounded by the cgroup's bandwidth
            // and each cell's wall-clock limit, not by a lifetime rlimit.
            cpu_time: None,
            file_size,
            extra_pipes: vec![ExtraPipe::Read, ExtraPipe::Write],
        };
        let mut process = sandbox.start(&command).await?;
        let failed = |reason: DriverStartError, said: String| EngineError::DriverStart {
            language: language.id.clone(),
            reason,
            said,
        };
        let mut extra = process.extra.drain(..);
        let (Some(ExtraEnd::Sender(control)), Some(ExtraEnd::Receiver(events))) =
            (extra.next(), extra.next())
        else {
            return Err(failed(DriverStartError::NoPipes, String::new()));
        };
        drop(extra);
        let (Some(stdout), Some(stderr)) = (process.stdout.take(), process.stderr.take()) else {
            return Err(failed(DriverStartError::NoPipes, String::new()));
        };
        let pipes = DriverPipes {
            control,
            events,
            stdin: process.stdin.take(),
            stdout,
            stderr,
        };
        let kernel = Kernel::new(
            Group::Sandboxed(process),
            pipes,
            driver.base64_code,
            Some(sandbox.meter()),
        );
        kernel
            .ready(DRIVER_START_TIMEOUT)
            .await
            .map_err(|(reason, said)| failed(reason, said))
    }

    fn new(group: Group, pipes: DriverPipes, base64_code: bool, meter: Option<Meter>) -> Kernel {
        Kernel {
            stdin: crate::executor::spawn_stdin_writer(pipes.stdin, Vec::new()),
            group,
            control: pipes.control,
            events: BufReader::new(pipes.events),
            stdout: MarkedStream::new(pipes.stdout),
            stderr: MarkedStream::new(pipes.stderr),
            base64_code,
            meter,
            cells: 0,
        }
    }

    /// Wait for the driver's `ready` (lines before it that are not `ready` are skipped) for at
    /// most `timeout`; else kill it and say why, with the start of what it wrote on stderr.
    async fn ready(mut self, timeout: Duration) -> Result<Kernel, (DriverStartError, String)> {
        let mut line = Vec::new();
        let events = &mut self.events;
        let ready = tokio::time::timeout(timeout, async {
            loop {
                match next_event(events, &mut line).await {
                    Some(DriverEvent::Ready) => return true,
                    Some(_) => {}
                    None => return false,
                }
            }
        })
        .await;
        let reason = match ready {
            Ok(true) => return Ok(self),
            Ok(false) => DriverStartError::Ended,
            Err(_) => DriverStartError::TimedOut(timeout),
        };
        self.kill();
        let mut said = vec![0u8; 2048];
        let read =
            tokio::time::timeout(Duration::from_millis(200), self.stderr.pipe.read(&mut said))
                .await;
        let said = match read {
            Ok(Ok(count)) => String::from_utf8_lossy(&said[..count]).trim().to_owned(),
            _ => String::new(),
        };
        Err((reason, said))
    }

    /// Kill the driver's process group (the sandbox and its files stay).
    pub(crate) fn kill(&self) {
        if let Err(error) = self.group.signal(Signal::Kill.number()) {
            tracing::debug!(%error, "kernel kill not delivered");
        }
    }

    /// Run one cell. `emit` gets output and input requests as they happen; `input` carries the
    /// client's stdin and signals for this run.
    pub(crate) async fn run_cell(
        &mut self,
        code: &str,
        initial_stdin: Option<&[u8]>,
        limits: Limits,
        input: &mut mpsc::Receiver<RunInput>,
        emit: &(dyn Fn(CellEvent) + Sync),
    ) -> CellEnd {
        let marker = format!("\u{1e}runnel-{:032x}\u{1e}", rand::random::<u128>());
        let input_marker = format!("\u{1e}runnel-input-{:032x}\u{1e}", rand::random::<u128>());
        self.cells += 1;
        let cell_id = format!("cell-{}", self.cells);
        let base64_code = self
            .base64_code
            .then(|| base64::engine::general_purpose::STANDARD.encode(code));
        let request = HostMessage::Execute {
            id: &cell_id,
            marker: &marker,
            input_marker: &input_marker,
            code: (!self.base64_code).then_some(code),
            code_b64: base64_code.as_deref(),
        }
        .to_line();
        let Ok(request) = request else {
            return CellEnd {
                outcome: lost("the cell could not be encoded for the interpreter"),
                kernel_alive: true,
            };
        };
        // Stdin given up front is in the pipe before the code runs, so that the driver's
        // `input()` finds it there instead of asking the client.
        if let (Some(data), Some(stdin)) = (initial_stdin, self.stdin.as_ref()) {
            let (told, written) = tokio::sync::oneshot::channel();
            let mut chunk = StdinChunk::unbounded(data.to_vec(), false);
            chunk.written = Some(told);
            let _ = stdin.send(chunk);
            if !matches!(tokio::time::timeout(limits.wall, written).await, Ok(Ok(()))) {
                tracing::debug!("stdin given up front was not taken in time");
            }
        }
        // The cell's clock starts here: the driver said `ready` before (see `Kernel::ready`).
        let started = tokio::time::Instant::now();
        if self.control.write_all(request.as_bytes()).await.is_err() {
            return CellEnd {
                outcome: lost("the interpreter is gone; state was lost"),
                kernel_alive: false,
            };
        }
        let waiting_for_input = AtomicBool::new(false);
        let synced = InputSync::default();
        let budget = std::sync::atomic::AtomicU64::new(limits.output_bytes);
        let truncated = AtomicBool::new(false);
        let emit_output = |stream: StreamName, data: Vec<u8>| {
            let allowed = take_budget(&budget, data.len());
            if allowed < data.len() {
                truncated.store(true, Ordering::Release);
            }
            if allowed > 0 {
                emit(CellEvent::Output(stream, data[..allowed].to_vec()));
            }
        };
        if let Some(Err(error)) = self.meter.as_ref().map(Meter::reset_memory_peak) {
            tracing::debug!(%error, "memory peak not reset");
        }
        let cpu_before = self.meter.as_ref().and_then(|meter| meter.cpu_usage().ok());
        let cpu_used = || {
            let now = self.meter.as_ref()?.cpu_usage().ok()?;
            Some(now.saturating_sub(cpu_before?))
        };
        let Kernel {
            group,
            control,
            events,
            stdout,
            stderr,
            stdin,
            ..
        } = self;
        let all = async {
            tokio::join!(
                stdout.read_to_marker(&marker, &input_marker, &synced, |data| {
                    emit_output(StreamName::Stdout, data);
                }),
                stderr.read_to_marker(&marker, &input_marker, &synced, |data| {
                    emit_output(StreamName::Stderr, data);
                }),
                read_done(events, &waiting_for_input, &synced, emit),
            )
        };
        tokio::pin!(all);
        let deadline = crate::run::deadline_after(started, limits.wall);
        let mut kill_at: Option<tokio::time::Instant> = None;
        let mut timed_out = false;
        let mut over_cpu = false;
        let mut cpu_poll = tokio::time::interval(CPU_POLL);
        cpu_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut interrupted = false;
        let mut interrupt_sent: Option<tokio::time::Instant> = None;
        let mut output_stopped = false;
        let mut killed = false;
        let mut input_open = true;
        let (stdout_ok, stderr_ok, done) = loop {
            tokio::select! {
                ended = &mut all => break ended,
                received = input.recv(), if input_open => match received {
                    Some(RunInput::Stdin(chunk)) => {
                        if waiting_for_input.swap(false, Ordering::AcqRel) {
                            let text = String::from_utf8_lossy(&chunk.data);
                            let value = text.strip_suffix('\n').unwrap_or(&text);
                            let value = value.strip_suffix('\r').unwrap_or(value);
                            if let Ok(reply) = (HostMessage::InputReply { value }).to_line() {
                                let _ = control.write_all(reply.as_bytes()).await;
                            }
                        } else if let Some(writer) = stdin.as_ref() {
                            let eof = chunk.eof;
                            let _ = writer.send(chunk);
                            if eof { *stdin = None; }
                        }
                    }
                    Some(RunInput::Signal(Signal::Interrupt)) => {
                        interrupted = true;
                        let now = tokio::time::Instant::now();
                        if interrupt_sent.is_none_or(|sent| now - sent >= INTERRUPT_DEBOUNCE) {
                            interrupt_sent = Some(now);
                            let _ = group.signal(Signal::Interrupt.number());
                        }
                    }
                    Some(RunInput::Signal(signal)) => {
                        killed = true;
                        let _ = group.signal(signal.number());
                    }
                    None => input_open = false,
                },
                _ = cpu_poll.tick(), if cpu_before.is_some() && !over_cpu && !timed_out => {
                    if cpu_used().is_some_and(|used| used >= limits.cpu) {
                        over_cpu = true;
                        let _ = group.signal(Signal::Interrupt.number());
                        kill_at = Some(tokio::time::Instant::now() + INTERRUPT_GRACE);
                    }
                }
                () = tokio::time::sleep_until(deadline), if !timed_out && !over_cpu => {
                    timed_out = true;
                    let _ = group.signal(Signal::Interrupt.number());
                    kill_at = Some(tokio::time::Instant::now() + INTERRUPT_GRACE);
                }
                () = sleep_until_some(kill_at) => {
                    kill_at = None;
                    let _ = group.signal(Signal::Kill.number());
                }
                () = std::future::ready(()), if truncated.load(Ordering::Acquire) && !output_stopped => {
                    output_stopped = true;
                    let _ = group.signal(Signal::Interrupt.number());
                }
            }
        };
        let wall_time = started.elapsed();
        let cpu_time = cpu_used().unwrap_or_default();
        let peak_memory = self
            .meter
            .as_ref()
            .and_then(|meter| meter.counters().ok())
            .map_or(0, |counters| counters.memory_peak);
        let kernel_alive = stdout_ok && stderr_ok && done.is_some() && !killed;
        let truncated = truncated.load(Ordering::Acquire);
        let (status, message, exit_code) = match &done {
            _ if truncated => (
                RunStatus::OutputLimit,
                Some(format!(
                    "output limit of {} bytes reached",
                    limits.output_bytes
                )),
                None,
            ),
            _ if over_cpu => (
                RunStatus::CpuLimit,
                Some(format!("CPU limit of {} ms", limits.cpu.as_millis())),
                None,
            ),
            _ if timed_out => (
                RunStatus::Timeout,
                Some(format!(
                    "wall-clock limit of {} ms",
                    limits.wall.as_millis()
                )),
                None,
            ),
            Some(done) if done.ok => (RunStatus::Ok, None, Some(0)),
            Some(done) if interrupted && done.ename == "KeyboardInterrupt" => (
                RunStatus::Killed,
                Some("KeyboardInterrupt".to_owned()),
                Some(1),
            ),
            Some(done) => (
                RunStatus::RuntimeError,
                Some(if done.evalue.is_empty() {
                    done.ename.clone()
                } else {
                    format!("{}: {}", done.ename, done.evalue)
                }),
                Some(1),
            ),
            None if killed => (
                RunStatus::Killed,
                Some("killed on request; the interpreter restarts".into()),
                None,
            ),
            None if interrupted => (
                RunStatus::Killed,
                Some("the interpreter ended on SIGINT; its state was lost".to_owned()),
                None,
            ),
            None => (
                RunStatus::RuntimeError,
                Some("the interpreter exited; its state was lost".to_owned()),
                None,
            ),
        };
        CellEnd {
            outcome: RunOutcome {
                status,
                exit_code,
                signal: None,
                wall_time,
                cpu_time,
                peak_memory,
                compile_time: Duration::ZERO,
                cached: false,
                truncated,
                message,
            },
            kernel_alive,
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn take_budget(budget: &std::sync::atomic::AtomicU64, wanted: usize) -> usize {
    let wanted = wanted as u64;
    let previous = budget
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
            Some(left - left.min(wanted))
        })
        .unwrap_or(0);
    usize::try_from(previous.min(wanted)).unwrap_or(usize::MAX)
}

fn lost(message: &str) -> RunOutcome {
    let mut outcome = crate::executor::internal_error(message.to_owned());
    outcome.status = RunStatus::RuntimeError;
    outcome
}
