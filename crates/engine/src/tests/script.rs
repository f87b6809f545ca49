//! The fake toolchain: `/fake/interp` runs a script, `/fake/cc` "compiles" one into an
//! executable `main`, and `/work/main` runs that. A script is one command a line:
//!
//! | line | what it does |
//! |---|---|
//! | `print TEXT` / `eprint TEXT` | `TEXT` and a newline on stdout / stderr |
//! | `cat` | stdin to stdout until EOF |
//! | `readline` | one line of stdin, printed back as `got: LINE` |
//! | `args` | the program's arguments, joined by spaces |
//! | `sleep MS` | waits (on tokio's clock) |
//! | `hang` | waits forever |
//! | `trap` | waits for a signal, prints `signal N` and exits `128 + N` |
//! | `oom` / `forkbomb` | raises the OOM-kill / pids-limit counter, then dies / exits 1 |
//! | `burn` | dies of its CPU limit (`SIGKILL` after using all of it) |
//! | `flood N` | `N` bytes of `x` on stdout |
//! | `write PATH TEXT` | writes a file into `/work` |
//! | `show PATH` | prints that file of `/work`, or `no PATH` |
//! | `exit N` | exits `N` (the end of the script exits 0) |
//!
//! In a source for `/fake/cc`, a line `error` fails the compile.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::backend::fake::{Exit, FakeBackend, Io};

const SIGKILL: i32 = 9;

/// How many times the fake compiler ran, per backend.
#[derive(Clone, Default)]
pub(crate) struct Toolchain {
    pub(crate) compiles: Arc<AtomicUsize>,
}

impl Toolchain {
    pub(crate) fn compiles(&self) -> usize {
        self.compiles.load(Ordering::SeqCst)
    }
}

/// Registers the fake toolchain's programs on `backend`.
pub(crate) fn install(backend: &FakeBackend) -> Toolchain {
    let toolchain = Toolchain::default();
    backend.program("/fake/interp", |io: Io| async move {
        let main = io.command.argv.get(1).cloned().unwrap_or_default();
        let args = io.command.argv.get(2..).unwrap_or_default().to_vec();
        match io.files.get(&main) {
            Some(file) => run(io, &String::from_utf8_lossy(&file.contents), &args).await,
            None => fail(io, &format!("interp: can't open file '{main}'"), 2).await,
        }
    });
    backend.program("/work/main", |io: Io| async move {
        let args = io.command.argv.get(1..).unwrap_or_default().to_vec();
        match io.files.get("main") {
            Some(file) if file.executable => {
                run(io, &String::from_utf8_lossy(&file.contents), &args).await
            }
            _ => fail(io, "exec: main: not an executable", 126).await,
        }
    });
    let compiles = Arc::clone(&toolchain.compiles);
    backend.program("/fake/cc", move |io: Io| {
        compiles.fetch_add(1, Ordering::SeqCst);
        async move {
            let sources: Vec<String> = io
                .command
                .argv
                .iter()
                .filter(|arg| arg.ends_with(".fc"))
                .cloned()
                .collect();
            let mut program = String::new();
            for source in &sources {
                let Some(file) = io.files.get(source) else {
                    return fail(io, &format!("cc: {source}: no such file"), 1).await;
                };
                program.push_str(&String::from_utf8_lossy(&file.contents));
            }
            if program.lines().any(|line| line.trim() == "error") {
                return fail(io, "main.fc:1: error: expected ';'", 1).await;
            }
            io.files.put("main", program.as_bytes(), true);
            Exit::code(0)
        }
    });
    toolchain
}

async fn fail(mut io: Io, message: &str, code: i32) -> Exit {
    if let Some(stderr) = io.stderr.as_mut() {
        let _ = stderr.write_all(format!("{message}\n").as_bytes()).await;
    }
    Exit::code(code)
}

/// Runs `script` with `args`.
pub(crate) async fn run(mut io: Io, script: &str, args: &[String]) -> Exit {
    let mut stdout = io.stdout.take();
    let mut stderr = io.stderr.take();
    let mut stdin = io.stdin.take().map(BufReader::new);
    for line in script.lines() {
        let (command, rest) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
        match command {
            "" => {}
            "print" => write(&mut stdout, format!("{rest}\n").as_bytes()).await,
            "eprint" => write(&mut stderr, format!("{rest}\n").as_bytes()).await,
            "args" => write(&mut stdout, format!("{}\n", args.join(" ")).as_bytes()).await,
            "cat" => {
                let mut all = Vec::new();
                if let Some(stdin) = stdin.as_mut() {
                    let _ = stdin.read_to_end(&mut all).await;
                }
                write(&mut stdout, &all).await;
            }
            "readline" => {
                let mut read = String::new();
                if let Some(stdin) = stdin.as_mut() {
                    let _ = stdin.read_line(&mut read).await;
                }
                write(
                    &mut stdout,
                    format!("got: {}\n", read.trim_end()).as_bytes(),
                )
                .await;
            }
            "sleep" => {
                let ms = rest.parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            "hang" => std::future::pending::<()>().await,
            "trap" => {
                let mut signals = io.trap_signals();
                let signal = signals.recv().await.unwrap_or(0);
                write(&mut stdout, format!("signal {signal}\n").as_bytes()).await;
                return Exit::code(128 + signal);
            }
            "oom" => {
                io.counters(|counters| counters.oom_kills += 1);
                return Exit::signal(SIGKILL);
            }
            "forkbomb" => {
                io.counters(|counters| counters.pids_max_hits += 1);
                write(&mut stderr, b"fork: Resource temporarily unavailable\n").await;
                return Exit::code(1);
            }
            "burn" => {
                return Exit {
                    cpu: io.command.cpu_time.unwrap_or_default(),
                    ..Exit::signal(SIGKILL)
                }
            }
            "flood" => {
                let bytes: usize = rest.parse().unwrap_or(0);
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len());
                    let Some(out) = stdout.as_mut() else { break };
                    if out.write_all(&chunk[..n]).await.is_err() {
                        return Exit::signal(13);
                    }
                    left -= n;
                }
            }
            "write" => {
                let (path, text) = rest.split_once(' ').unwrap_or((rest, ""));
                io.files.put(path, text.as_bytes(), false);
            }
            "show" => {
                let shown = match io.files.get(rest) {
                    Some(file) => String::from_utf8_lossy(&file.contents).into_owned(),
                    None => format!("no {rest}"),
                };
                write(&mut stdout, format!("{shown}\n").as_bytes()).await;
            }
            "exit" => return Exit::code(rest.parse().unwrap_or(1)),
            other => {
                write(
                    &mut stderr,
                    format!("script: unknown command {other:?}\n").as_bytes(),
                )
                .await;
                return Exit::code(2);
            }
        }
    }
    Exit::code(0)
}

async fn write(stream: &mut Option<tokio::net::unix::pipe::Sender>, bytes: &[u8]) {
    if let Some(stream) = stream.as_mut() {
        let _ = stream.write_all(bytes).await;
    }
}
