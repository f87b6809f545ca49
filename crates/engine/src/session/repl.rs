//! The kernel: a language's session driver running in the session's sandbox, and one cell
//! (an execute) driven through it: code out on fd 3, events in on fd 4, user output read from
//! stdout and stderr up to the cell's marker, input requests answered from stdin, SIGINT for
//! interrupts, and a wall-clock limit per cell.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use runnel_languages::{Language, SessionDriver};
use runnel_protocol::{RunStatus, StreamName};
use runnel_sandbox::{CommandSpec, ExtraEnd, ExtraPipe, FileEntry, Process, Sandbox, StdioMode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::error::EngineError;
use crate::executor::WORK_DIR;
use crate::output::Utf8Chunker;
use crate::run::{Limits, RunInput, RunOutcome, Signal};

/// How long a driver may take to say `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// After an interrupt on timeout, how long the cell gets to end before the kernel is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(2);
/// Longest an input request waits for the output written before it.
const INPUT_SYNC_WAIT: Duration = Duration::from_millis(500);
/// One read from stdout or stderr.
const READ_BYTES: usize = 64 * 1024;

/// A started session driver.
pub(crate) struct Kernel {
    process: Process,
    control: pipe::Sender,
    events: BufReader<pipe::Receiver>,
    stdout: MarkedStream,
    stderr: MarkedStream,
    stdin: Option<pipe::Sender>,
    base64_code: bool,
}

/// What a cell sends out while it runs.
pub(crate) enum CellEvent {
    Output(StreamName, Vec<u8>),
    InputRequest { prompt: String, password: bool },
}

/// How a cell ended, and whether the kernel survived it.
pub(crate) struct CellEnd {
    pub(crate) outcome: RunOutcome,
    pub(crate) kernel_alive: bool,
}

impl Kernel {
    /// Write the driver into the sandbox, start it and wait for `ready`.
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
        let missing =
            || EngineError::Unavailable("session driver started without its pipes".into());
        let mut extra = process.extra.drain(..);
        let (Some(ExtraEnd::Sender(control)), Some(ExtraEnd::Receiver(events))) =
            (extra.next(), extra.next())
        else {
            return Err(missing());
        };
        drop(extra);
        let (Some(stdout), Some(stderr)) = (process.stdout.take(), process.stderr.take()) else {
            return Err(missing());
        };
        let mut kernel = Kernel {
            stdin: process.stdin.take(),
            process,
            control,
            events: BufReader::new(events),
            stdout: MarkedStream::new(stdout),
            stderr: MarkedStream::new(stderr),
            base64_code: driver.base64_code,
        };
        let mut line = String::new();
        let ready = tokio::time::timeout(READY_TIMEOUT, kernel.events.read_line(&mut line)).await;
        match ready {
            Ok(Ok(read)) if read > 0 && line.contains("\"ready\"") => Ok(kernel),
            _ => {
                kernel.kill();
                let mut said = vec![0u8; 2048];
                let read = tokio::time::timeout(
                    Duration::from_millis(200),
                    kernel.stderr.pipe.read(&mut said),
                )
                .await;
                let said = match read {
                    Ok(Ok(count)) => String::from_utf8_lossy(&said[..count]).into_owned(),
                    _ => String::new(),
                };
                Err(EngineError::Unavailable(format!(
                    "the {} session driver did not start: {}",
                    language.id,
                    said.trim()
                )))
            }
        }
    }

    /// Kill the driver's process group (the sandbox and its files stay).
    pub(crate) fn kill(&self) {
        if let Err(error) = self.process.signal(Signal::Kill.number()) {
            tracing::debug!(%error, "kernel kill not delivered");
        }
    }

    /// Run one cell. `emit` gets output and input requests as they happen; `input` carries the
    /// client's stdin and signals for this run.
    pub(crate) async fn run_cell(
        &mut self,
        run_id: &str,
        code: &str,
        initial_stdin: Option<&[u8]>,
        limits: Limits,
        input: &mut mpsc::UnboundedReceiver<RunInput>,
        emit: &(dyn Fn(CellEvent) + Sync),
    ) -> CellEnd {
        let started = Instant::now();
        let marker = format!("\u{1e}runnel-{:032x}\u{1e}", rand::random::<u128>());
        let input_marker = format!("\u{1e}runnel-input-{:032x}\u{1e}", rand::random::<u128>());
        let mut request = serde_json_line(run_id, &marker, &input_marker, code, self.base64_code);
        request.push('\n');
        // Stdin given up front is in the pipe before the code runs, so that the driver's
        // `input()` finds it there instead of asking the client.
        if let (Some(data), Some(pipe)) = (initial_stdin, self.stdin.as_mut()) {
            let written = tokio::time::timeout(limits.wall, pipe.write_all(data)).await;
            if !matches!(written, Ok(Ok(()))) {
                tracing::debug!("stdin given up front was not taken in time");
            }
        }
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
        let Kernel {
            process,
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
        let deadline = tokio::time::Instant::now() + limits.wall;
        let mut kill_at: Option<tokio::time::Instant> = None;
        let mut timed_out = false;
        let mut interrupted = false;
        let mut output_stopped = false;
        let mut killed = false;
        let mut input_open = true;
        let (stdout_ok, stderr_ok, done) = loop {
            tokio::select! {
                ended = &mut all => break ended,
                received = input.recv(), if input_open => match received {
                    Some(RunInput::Stdin { data, eof }) => {
                        if waiting_for_input.swap(false, Ordering::AcqRel) {
                            let text = String::from_utf8_lossy(&data);
                            let value = text.strip_suffix('\n').unwrap_or(&text);
                            let value = value.strip_suffix('\r').unwrap_or(value);
                            let reply = format!("{{\"op\":\"input_reply\",\"value\":{}}}\n", json_string(value));
                            let _ = control.write_all(reply.as_bytes()).await;
                        } else if let Some(pipe) = stdin.as_mut() {
                            if !data.is_empty() { let _ = pipe.write_all(&data).await; }
                            if eof { *stdin = None; }
                        }
                    }
                    Some(RunInput::Signal(signal)) => {
                        if signal == Signal::Interrupt { interrupted = true; } else { killed = true; }
                        let _ = process.signal(signal.number());
                    }
                    None => input_open = false,
                },
                () = tokio::time::sleep_until(deadline), if !timed_out => {
                    timed_out = true;
                    let _ = process.signal(Signal::Interrupt.number());
                    kill_at = Some(tokio::time::Instant::now() + INTERRUPT_GRACE);
                }
                () = sleep_until_some(kill_at) => {
                    kill_at = None;
                    let _ = process.signal(Signal::Kill.number());
                }
                () = std::future::ready(()), if truncated.load(Ordering::Acquire) && !output_stopped => {
                    output_stopped = true;
                    let _ = process.signal(Signal::Interrupt.number());
                }
            }
        };
        let wall_time = started.elapsed();
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
                cpu_time: Duration::ZERO,
                peak_memory: 0,
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

/// `done` as the driver reported it.
struct Done {
    ok: bool,
    ename: String,
    evalue: String,
}

/// How many input markers each output stream has passed: an input request is told to the
/// client only once the output written before it (which the driver flushed, then marked) is out.
#[derive(Default)]
struct InputSync {
    passed: std::sync::atomic::AtomicU32,
    notify: tokio::sync::Notify,
}

impl InputSync {
    fn pass(&self) {
        self.passed.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Wait until both streams passed `requests` input markers (bounded: a driver that writes
    /// none only costs the wait).
    async fn wait_for(&self, requests: u32) {
        let wanted = requests * 2;
        let _ = tokio::time::timeout(INPUT_SYNC_WAIT, async {
            loop {
                let notified = self.notify.notified();
                if self.passed.load(Ordering::Acquire) >= wanted {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
}

/// Read driver events until `done`; `None` if the driver went away first.
async fn read_done(
    events: &mut BufReader<pipe::Receiver>,
    waiting_for_input: &AtomicBool,
    synced: &InputSync,
    emit: &(dyn Fn(CellEvent) + Sync),
) -> Option<Done> {
    let mut line = String::new();
    let mut requests = 0_u32;
    loop {
        line.clear();
        match events.read_line(&mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let Some(op) = json_field(&line, "op") else {
            continue;
        };
        match op.as_str() {
            "input_request" => {
                requests += 1;
                synced.wait_for(requests).await;
                waiting_for_input.store(true, Ordering::Release);
                emit(CellEvent::InputRequest {
                    prompt: json_field(&line, "prompt").unwrap_or_default(),
                    password: line.contains("\"password\":true")
                        || line.contains("\"password\": true"),
                });
            }
            "done" => {
                return Some(Done {
                    ok: json_field(&line, "status").as_deref() == Some("ok"),
                    ename: json_field(&line, "ename").unwrap_or_default(),
                    evalue: json_field(&line, "evalue").unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
}

/// A pipe read up to each cell's marker, which is stripped. Bytes after a marker stay for the
/// next cell; a tail that could be the start of the marker is held back until it is decided.
pub(crate) struct MarkedStream {
    pipe: pipe::Receiver,
    pending: Vec<u8>,
    chunker: Utf8Chunker,
}

impl MarkedStream {
    fn new(pipe: pipe::Receiver) -> MarkedStream {
        MarkedStream {
            pipe,
            pending: Vec::new(),
            chunker: Utf8Chunker::default(),
        }
    }

    /// Emit output up to `marker`; false if the pipe ended first. Each `input_marker` on the
    /// way is stripped and counted in `synced`.
    async fn read_to_marker(
        &mut self,
        marker: &str,
        input_marker: &str,
        synced: &InputSync,
        mut emit: impl FnMut(Vec<u8>),
    ) -> bool {
        let marker = marker.as_bytes();
        let input_marker = input_marker.as_bytes();
        let mut buffer = vec![0u8; READ_BYTES];
        loop {
            while let Some(position) = find(&self.pending, input_marker) {
                let rest = self.pending.split_off(position + input_marker.len());
                self.pending.truncate(position);
                let before = std::mem::replace(&mut self.pending, rest);
                let data = self.chunker.push(&before);
                if !data.is_empty() {
                    emit(data);
                }
                synced.pass();
            }
            if let Some(position) = find(&self.pending, marker) {
                let rest = self.pending.split_off(position + marker.len());
                self.pending.truncate(position);
                let before = std::mem::replace(&mut self.pending, rest);
                let mut data = self.chunker.push(&before);
                data.extend(self.chunker.finish());
                if !data.is_empty() {
                    emit(data);
                }
                return true;
            }
            let hold = partial_marker_len(&self.pending, marker)
                .max(partial_marker_len(&self.pending, input_marker));
            let ready = self.pending.len() - hold;
            if ready > 0 {
                let rest = self.pending.split_off(ready);
                let data = self
                    .chunker
                    .push(&std::mem::replace(&mut self.pending, rest));
                if !data.is_empty() {
                    emit(data);
                }
            }
            match self.pipe.read(&mut buffer).await {
                Ok(0) | Err(_) => {
                    let mut data = std::mem::take(&mut self.pending);
                    data = [self.chunker.push(&data), self.chunker.finish()].concat();
                    if !data.is_empty() {
                        emit(data);
                    }
                    return false;
                }
                Ok(read) => self.pending.extend_from_slice(&buffer[..read]),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Length of the longest suffix of `data` that is a proper prefix of `marker`.
fn partial_marker_len(data: &[u8], marker: &[u8]) -> usize {
    let longest = data.len().min(marker.len().saturating_sub(1));
    (1..=longest)
        .rev()
        .find(|&length| data.ends_with(&marker[..length]))
        .unwrap_or(0)
}

fn lost(message: &str) -> RunOutcome {
    let mut outcome = crate::executor::internal_error(message.to_owned());
    outcome.status = RunStatus::RuntimeError;
    outcome
}

/// The `execute` line for the driver.
fn serde_json_line(
    run_id: &str,
    marker: &str,
    input_marker: &str,
    code: &str,
    base64_code: bool,
) -> String {
    let code_field = if base64_code {
        format!(
            "\"code_b64\":\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(code)
        )
    } else {
        format!("\"code\":{}", json_string(code))
    };
    format!(
        "{{\"op\":\"execute\",\"id\":{},\"marker\":{},\"input_marker\":{},{code_field}}}",
        json_string(run_id),
        json_string(marker),
        json_string(input_marker)
    )
}

/// `value` as a JSON string literal.
pub(crate) fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string field of a one-line JSON object written by a driver (`null` gives `None`).
fn json_field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let start = line.find(&key)? + key.len();
    let rest = line[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_fields_are_read() {
        let line = r#"{"op": "done", "id": "r1", "status": "error", "ename": "ValueError", "evalue": "bad \"x\"\n\u00e9"}"#;
        assert_eq!(json_field(line, "op").as_deref(), Some("done"));
        assert_eq!(json_field(line, "evalue").as_deref(), Some("bad \"x\"\né"));
        assert_eq!(json_field(r#"{"ename":null}"#, "ename"), None);
    }

    #[test]
    fn partial_markers_are_held_back() {
        let marker = b"\x1erunnel-ab\x1e";
        assert_eq!(partial_marker_len(b"hello\x1erun", marker), 4);
        assert_eq!(partial_marker_len(b"hello", marker), 0);
        assert_eq!(partial_marker_len(b"\x1e", marker), 1);
    }

    #[test]
    fn execute_lines_escape_code() {
        let line = serde_json_line(
            "r",
            "\u{1e}m\u{1e}",
            "\u{1e}i\u{1e}",
            "print(\"a\")\n",
            false,
        );
        assert_eq!(
            line,
            r#"{"op":"execute","id":"r","marker":"\u001em\u001e","input_marker":"\u001ei\u001e","code":"print(\"a\")\n"}"#
        );
    }
}
