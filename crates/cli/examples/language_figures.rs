//! Per-language figures for docs/languages.md: hello world, compiled and run once, cold,
//! through Runnel (the result's `compile_time` and `execution_time`, fresh sandbox, empty
//! compile cache, no warm pool) next to the same commands run bare on the host (same argv and
//! environment, in a temporary directory, no sandbox), in the same run. An untimed bare pass
//! before each language puts its toolchain in the page cache for both timed runs.
//!
//! ```text
//! cargo build -p runnel-cli && cargo run -p runnel-cli --example language_figures
//! ```
//!
//! It starts its own `runnel serve` (the binary next to this example in the target directory)
//! with a fresh data directory, prints a Markdown table, and stops the server.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use runnel_languages::{Language, Registry, SandboxDirs};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error>;

/// Memory limit of the runs, as a default request would get it.
const RUN_MEMORY: u64 = 256 * 1024 * 1024;

/// Hello world per language id.
fn hello(id: &str) -> Option<String> {
    let text = match id {
        "python" => "print('Hello, World!')",
        "javascript" => "console.log('Hello, World!');",
        "typescript" => "const greeting: string = 'Hello, World!';\nconsole.log(greeting);",
        "c" => "#include <stdio.h>\nint main(void) { puts(\"Hello, World!\"); return 0; }",
        "cpp" => "#include <iostream>\nint main() { std::cout << \"Hello, World!\" << std::endl; }",
        "java" => "public class Main {\n  public static void main(String[] args) { System.out.println(\"Hello, World!\"); }\n}",
        "kotlin" => "fun main() {\n    println(\"Hello, World!\")\n}",
        "go" => "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"Hello, World!\") }",
        "rust" => "fn main() {\n    println!(\"Hello, World!\");\n}",
        "ruby" => "puts 'Hello, World!'",
        "php" => "<?php\necho \"Hello, World!\\n\";",
        "bash" => "echo 'Hello, World!'",
        "perl" => "print \"Hello, World!\\n\";",
        "lua" => "print('Hello, World!')",
        "r" => "cat('Hello, World!\\n')",
        "haskell" => "main :: IO ()\nmain = putStrLn \"Hello, World!\"",
        "ocaml" => "let () = print_endline \"Hello, World!\"",
        "erlang" => "main(_) -> io:format(\"Hello, World!~n\").",
        "elixir" => "IO.puts(\"Hello, World!\")",
        "scala" => "object Main {\n  def main(args: Array[String]): Unit = println(\"Hello, World!\")\n}",
        "clojure" => "(println \"Hello, World!\")",
        "groovy" => "println 'Hello, World!'",
        "csharp" => "class Program {\n  static void Main() { System.Console.WriteLine(\"Hello, World!\"); }\n}",
        "nim" => "echo \"Hello, World!\"",
        "d" => "import std.stdio;\n\nvoid main() { writeln(\"Hello, World!\"); }",
        "fortran" => "program hello\n  print '(a)', 'Hello, World!'\nend program hello",
        "pascal" => "program Hello;\nbegin\n  WriteLn('Hello, World!');\nend.",
        "cobol" => "       IDENTIFICATION DIVISION.\n       PROGRAM-ID. HELLO.\n       PROCEDURE DIVISION.\n           DISPLAY \"Hello, World!\".\n           STOP RUN.\n",
        "prolog" => ":- initialization(main, main).\n\nmain :- writeln('Hello, World!').",
        "commonlisp" => "(format t \"Hello, World!~%\")",
        "scheme" => "(display \"Hello, World!\")\n(newline)",
        "tcl" => "puts {Hello, World!}",
        "sql" => "SELECT 'Hello, World!';",
        "brainfuck" => {
            return Some(
                "Hello, World!\n"
                    .bytes()
                    .map(|byte| format!("[-]{}.", "+".repeat(usize::from(byte))))
                    .collect(),
            )
        }
        "crystal" => "puts \"Hello, World!\"",
        "asm" => "section .data\nmsg: db `Hello, World!\\n`\nlen equ $ - msg\n\nsection .text\nglobal _start\n_start:\n  mov eax, 1\n  mov edi, 1\n  lea rsi, [rel msg]\n  mov edx, len\n  syscall\n  mov eax, 60\n  xor edi, edi\n  syscall\n",
        "awk" => "BEGIN { print \"Hello, World!\" }",
        "sed" => "s/.*/Hello, &!/",
        "zig" => "const std = @import(\"std\");\n\npub fn main(init: std.process.Init) !void {\n    var buffer: [256]u8 = undefined;\n    var stdout: std.Io.File.Writer = .init(.stdout(), init.io, &buffer);\n    try stdout.interface.print(\"Hello, World!\\n\", .{});\n    try stdout.interface.flush();\n}\n",
        "forth" => ".( Hello, World!) cr",
        "sml" => "print \"Hello, World!\\n\";",
        _ => return None,
    };
    Some(text.to_owned())
}

/// Input of the hello world (sed does nothing until it has read a line).
fn stdin_of(id: &str) -> &'static str {
    if id == "sed" {
        "World\n"
    } else {
        ""
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Run argv bare on the host; wall time, and whether it succeeded.
fn bare(argv: &[String], env: Vec<(String, String)>, cwd: &Path, stdin: &str) -> (f64, bool) {
    let started = Instant::now();
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return (0.0, false);
    };
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let ok = child
        .wait_with_output()
        .is_ok_and(|output| output.status.success());
    (millis(started.elapsed()), ok)
}

/// Compile and run `source` bare: (compile ms or None, run ms, ok).
fn bare_figures(language: &Language, source: &str) -> Result<(Option<f64>, f64, bool), Error> {
    let work = tempfile::tempdir()?;
    let tmp = work.path().join(".tmp");
    std::fs::create_dir_all(&tmp)?;
    let dirs = SandboxDirs {
        work: work.path().display().to_string(),
        tmp: tmp.display().to_string(),
    };
    std::fs::write(work.path().join(&language.source_file), source)?;
    let files = vec![language.source_file.clone()];
    let stdin = stdin_of(&language.id);
    let mut compile_ms = None;
    if let Some(argv) = language.compile_command(&files, &[]) {
        let env = language.compile_environment_in(language.compile_limits().memory_bytes, &dirs);
        let (ms, ok) = bare(&argv, env, work.path(), "");
        if !ok {
            return Ok((Some(ms), 0.0, false));
        }
        compile_ms = Some(ms);
    }
    let mut argv = language.run_command(&files, &[]);
    if let Some(binary) = argv[0].strip_prefix("./") {
        argv[0] = work.path().join(binary).display().to_string();
    }
    let (run_ms, ok) = bare(
        &argv,
        language.run_environment_in(RUN_MEMORY, &dirs),
        work.path(),
        stdin,
    );
    Ok((compile_ms, run_ms, ok))
}

struct RunningServer {
    child: std::process::Child,
    address: String,
    key: String,
    _data: tempfile::TempDir,
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runnel_binary() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no target directory")?;
    let binary = dir.join("runnel");
    if !binary.exists() {
        return Err(format!("{} missing: cargo build -p runnel-cli", binary.display()).into());
    }
    Ok(binary)
}

fn start_server() -> Result<RunningServer, Error> {
    let binary = runnel_binary()?;
    let data = tempfile::tempdir()?;
    let keys = Command::new(&binary)
        .args(["keys", "create", "--data-dir"])
        .arg(data.path())
        .env("RUNNEL_LOG", "warn")
        .output()?;
    let key = String::from_utf8(keys.stdout)?
        .lines()
        .last()
        .ok_or("no key printed")?
        .trim()
        .to_owned();
    let mut child = Command::new(&binary)
        .args(["serve", "--listen", "127.0.0.1:0", "--pool-size", "0"])
        .arg("--data-dir")
        .arg(data.path())
        .env("RUNNEL_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut address = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("runnel listening on http://") {
            address = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    Ok(RunningServer {
        child,
        address: address.ok_or("the server printed no address")?,
        key,
        _data: data,
    })
}

/// This user's home and temporary directory, as the cli's Config reads them.
// An example program stands in for the cli's Config, the one place these may be read.
#[allow(clippy::disallowed_methods)]
fn host_dirs() -> runnel_languages::HostDirs {
    runnel_languages::HostDirs {
        home: std::env::home_dir(),
        scratch: std::env::temp_dir(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let server = start_server()?;
    let host = host_dirs();
    let registry = Registry::embedded(&host)?.detect(&host);
    let mut request = format!("ws://{}/ws", server.address).into_client_request()?;
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {}", server.key).parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;

    println!("| language | version | Runnel compile ms | Runnel run ms | bare compile ms | bare run ms |");
    println!("|---|---|---:|---:|---:|---:|");
    for language in registry.languages() {
        let Some(source) = hello(&language.id) else {
            eprintln!("{}: no hello world in this example", language.id);
            continue;
        };
        // One untimed bare pass first, so both timed runs find the toolchain in the page
        // cache: the figures compare sandbox and server overhead, not disk reads.
        let _ = bare_figures(language, &source)?;
        let message = json!({
            "action": "execute", "language": language.id, "code": source,
            "stdin": stdin_of(&language.id), "limits": {"wall_ms": 60000},
        });
        socket
            .send(Message::Text(message.to_string().into()))
            .await?;
        let result: Value = loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text)?;
                    if value["type"] == "result" || value["type"] == "error" {
                        break value;
                    }
                }
                Some(Ok(_)) => continue,
                _ => return Err("the socket closed".into()),
            }
        };
        let through_runnel_ok = result["status"] == "ok" && result["stdout"] == "Hello, World!\n";
        let (bare_compile, bare_run, bare_ok) = bare_figures(language, &source)?;
        let compile = |ms: Option<f64>| ms.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.0}"));
        let runnel_compile = if language.compiled {
            result["compile_time"].as_f64()
        } else {
            None
        };
        println!(
            "| {} | {} | {} | {}{} | {} | {:.0}{} |",
            language.name,
            language.version,
            compile(runnel_compile),
            result["execution_time"]
                .as_f64()
                .map_or_else(|| "?".to_owned(), |ms| format!("{ms:.0}")),
            if through_runnel_ok { "" } else { " (failed)" },
            compile(bare_compile),
            bare_run,
            if bare_ok { "" } else { " (failed)" },
        );
    }
    Ok(())
}
