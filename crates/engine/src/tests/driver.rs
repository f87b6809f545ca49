//! The fake session driver, `/fake/repl`: a little REPL that speaks the drivers' wire
//! ([`runnel_languages::repl`], [`runnel_languages::wire`]) as the real ones do. It writes
//! `{"op":"ready"}` on fd 4, then for each `execute` line on fd 3 runs the cell's code, writes
//! the cell's marker on stdout and stderr and answers `done` on fd 4. Its variables live in
//! the driver task's memory, so they persist from cell to cell until the driver ends.
//!
//! A cell is one command a line; an error stops the cell there, as an exception does:
//!
//! | line | what it does |
//! |---|---|
//! | `print TEXT` / `eprint TEXT` | `TEXT` and a newline on stdout / stderr |
//! | `set NAME VALUE` | keeps `VALUE` under `NAME` for the cells after |
//! | `get NAME` | prints the value of `NAME`; `NameError` when it has none |
//! | `input PROMPT` / `password PROMPT` | input marker on both streams, an `input_request` (with `password` false / true), waits for the `input_reply` on fd 3 and prints its value |
//! | `readline` | one line of the driver's stdin, printed back as `got: LINE` |
//! | `sleep MS` | waits (on tokio's clock) |
//! | `hang` | waits until interrupted |
//! | `fail NAME MSG` | the cell ends with `done` status `error`, `ename` NAME, `evalue` MSG |
//! | `crash` | the driver exits (code 1) in the middle of the cell, without `done` |
//! | `write PATH TEXT` | writes a file into `/work` |
//! | anything else | `SyntaxError: unknown command ...` |
//!
//! Signals are trapped: a SIGINT while a cell runs (at a command's boundary, or while it
//! waits: `sleep`, `hang`, `input`) ends the cell with `done` status `error`, `ename`
//! `KeyboardInterrupt`, as Python does, and the driver waits for the next cell; one that
//! arrives between cells is ignored. Any other signal but SIGKILL (which the backend always
//! delivers) ends the driver by that signal.
//!
//! When `/work` holds [`START_DELAY_FILE`], the driver waits that many milliseconds before it
//! says `ready` (a slow interpreter start).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::backend::fake::{Exit, FakeBackend, Files, Io};

const SIGINT: i32 = 2;

/// A file in `/work` whose contents (milliseconds) delay the driver's `ready`.
pub(crate) const START_DELAY_FILE: &str = "fake-repl-start-ms";

/// Registers `/fake/repl` on `backend`.
pub(crate) fn install(backend: &FakeBackend) {
    backend.program("/fake/repl", |io: Io| async move { drive(io).await });
}

/// How a cell ended.
enum End {
    Ok,
    Error(String, String),
    /// The driver itself ends.
    Exit(Exit),
}

impl End {
    fn error(name: &str, value: impl Into<String>) -> End {
        End::Error(name.to_owned(), value.into())
    }

    fn of_signal(signal: i32) -> End {
        if signal == SIGINT {
            End::error("KeyboardInterrupt", "")
        } else {
            End::Exit(Exit::signal(signal))
        }
    }
}

/// The driver's pipes and state.
struct Driver {
    control: BufReader<pipe::Receiver>,
    events: pipe::Sender,
    stdout: Option<pipe::Sender>,
    stderr: Option<pipe::Sender>,
    stdin: Option<BufReader<pipe::Receiver>>,
    signals: mpsc::UnboundedReceiver<i32>,
    files: Files,
    vars: BTreeMap<String, String>,
}

async fn drive(mut io: Io) -> Exit {
    if io.command.argv.get(1).map(String::as_str) == Some("--version") {
        write(&mut io.stdout, b"fakerepl 1.0\n").await;
        return Exit::code(0);
    }
    if io.extra.len() < 2 {
        write(&mut io.stderr, b"repl: no control pipes (fd 3, fd 4)\n").await;
        return Exit::code(2);
    }
    let mut driver = Driver {
        control: BufReader::new(io.extra_reader(0)),
        events: io.extra_writer(1),
        stdout: io.stdout.take(),
        stderr: io.stderr.take(),
        stdin: io.stdin.take().map(BufReader::new),
        signals: io.trap_signals(),
        files: io.files.clone(),
        vars: BTreeMap::new(),
    };
    if let Some(delay) = driver.files.get(START_DELAY_FILE) {
        let ms = String::from_utf8_lossy(&delay.contents)
            .trim()
            .parse()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    driver.event(json!({"op": "ready"})).await;
    driver.serve().await
}

impl Driver {
    /// Answer cells until the host closes fd 3 (exit 0) or a cell ends the driver.
    async fn serve(&mut self) -> Exit {
        loop {
            let Some(message) = message(&mut self.control).await else {
                return Exit::code(0);
            };
            if message["op"] != "execute" {
                continue;
            }
            let field = |name: &str| message[name].as_str().unwrap_or_default().to_owned();
            let (id, marker, input_marker) = (field("id"), field("marker"), field("input_marker"));
            // An interrupt sent while no cell ran is spent.
            while self.signals.try_recv().is_ok() {}
            let end = self.cell(&field("code"), &input_marker).await;
            let done = match end {
                End::Exit(exit) => return exit,
                End::Ok => {
                    json!({"op": "done", "id": id, "status": "ok", "ename": null, "evalue": null})
                }
                End::Error(ename, evalue) => {
                    json!({"op": "done", "id": id, "status": "error", "ename": ename, "evalue": evalue})
                }
            };
            self.mark(&marker).await;
            self.event(done).await;
        }
    }

    async fn cell(&mut self, code: &str, input_marker: &str) -> End {
        for line in code.lines() {
            if let Ok(signal) = self.signals.try_recv() {
                return End::of_signal(signal);
            }
            // What follows the command is kept as it is (a prompt may end in a space).
            let line = line.trim_start();
            let (command, rest) = line.split_once(' ').unwrap_or((line.trim_end(), ""));
            match command {
                "" => {}
                "print" => write(&mut self.stdout, format!("{rest}\n").as_bytes()).await,
                "eprint" => write(&mut self.stderr, format!("{rest}\n").as_bytes()).await,
                "set" => {
                    let (name, value) = rest.split_once(' ').unwrap_or((rest, ""));
                    self.vars.insert(name.to_owned(), value.to_owned());
                }
                "get" => match self.vars.get(rest) {
                    Some(value) => {
                        let line = format!("{value}\n");
                        write(&mut self.stdout, line.as_bytes()).await;
                    }
                    None => {
                        return End::error("NameError", format!("name '{rest}' is not defined"))
                    }
                },
                "input" | "password" => {
                    match self.input(rest, command == "password", input_marker).await {
                        Ok(value) => write(&mut self.stdout, format!("{value}\n").as_bytes()).await,
                        Err(end) => return end,
                    }
                }
                "readline" => {
                    let mut read = String::new();
                    if let Some(stdin) = self.stdin.as_mut() {
                        let _ = stdin.read_line(&mut read).await;
                    }
                    let line = format!("got: {}\n", read.trim_end());
                    write(&mut self.stdout, line.as_bytes()).await;
                }
                "sleep" => {
                    let ms = rest.parse().unwrap_or(0);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                        signal = self.signals.recv() => return End::of_signal(signal.unwrap_or(SIGINT)),
                    }
                }
                "hang" => return End::of_signal(self.signals.recv().await.unwrap_or(SIGINT)),
                "fail" => {
                    let (name, message) = rest.split_once(' ').unwrap_or((rest, ""));
                    return End::error(name, message);
                }
                "crash" => return End::Exit(Exit::code(1)),
                "write" => {
                    let (path, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    self.files.put(path, text.as_bytes(), false);
                }
                other => return End::error("SyntaxError", format!("unknown command {other:?}")),
            }
        }
        End::Ok
    }

    /// Ask the host for a line: the output so far is marked out first, as drivers do.
    async fn input(
        &mut self,
        prompt: &str,
        password: bool,
        input_marker: &str,
    ) -> Result<String, End> {
        self.mark(input_marker).await;
        self.event(json!({"op": "input_request", "prompt": prompt, "password": password}))
            .await;
        loop {
            tokio::select! {
                message = message(&mut self.control) => match message {
                    Some(reply) if reply["op"] == "input_reply" => {
                        return Ok(reply["value"].as_str().unwrap_or_default().to_owned());
                    }
                    Some(_) => {}
                    // The host went away mid-cell.
                    None => return Err(End::Exit(Exit::code(0))),
                },
                signal = self.signals.recv() => return Err(End::of_signal(signal.unwrap_or(SIGINT))),
            }
        }
    }

    /// `marker` on stdout, then on stderr.
    async fn mark(&mut self, marker: &str) {
        write(&mut self.stdout, marker.as_bytes()).await;
        write(&mut self.stderr, marker.as_bytes()).await;
    }

    async fn event(&mut self, event: Value) {
        let _ = self.events.write_all(format!("{event}\n").as_bytes()).await;
    }
}

/// The next JSON line on fd 3 (lines that are not JSON are skipped); `None` at its end.
async fn message(control: &mut BufReader<pipe::Receiver>) -> Option<Value> {
    loop {
        let mut line = String::new();
        match control.read_line(&mut line).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {
                if let Ok(message) = serde_json::from_str::<Value>(&line) {
                    return Some(message);
                }
            }
        }
    }
}

async fn write(stream: &mut Option<pipe::Sender>, bytes: &[u8]) {
    if let Some(stream) = stream.as_mut() {
        let _ = stream.write_all(bytes).await;
    }
}
