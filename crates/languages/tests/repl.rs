//! The session drivers against the real interpreters on this host: state persists across
//! cells, an error ends only its cell, markers follow each cell's output on both streams, and
//! Python's `input()` asks the host over the control channel.

// Test helpers panic on setup failures; that is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use runnel_languages::{Language, Registry, SandboxDirs, SessionDriver};
use serde_json::{json, Value};

const MEMORY: u64 = 256 * 1024 * 1024;
/// SIGINTs sent one after another (each a `kill` process: about a millisecond apart).
const INTERRUPT_BURST: usize = 12;
/// One SIGINT, for the drivers whose interpreter takes it on a thread of its own (BEAM through
/// its wrapper, the JVM): a late one of a burst can stop the next cell, which is why the engine
/// passes a cell's SIGINTs on at most one per 500 ms (`tests/sessions.rs` in runnel-cli sends
/// a burst through it).
const ONE_INTERRUPT: usize = 1;

fn language(id: &str) -> Language {
    let registry = Registry::embedded(&common::host_dirs())
        .unwrap()
        .detect(&common::host_dirs());
    registry
        .get(id)
        .unwrap_or_else(|| panic!("{id} is not installed: run scripts/install-languages.sh"))
        .clone()
}

struct Driver {
    child: Child,
    control: std::fs::File,
    events: BufReader<std::fs::File>,
    driver: SessionDriver,
    _work: tempfile::TempDir,
}

impl Driver {
    fn start(id: &str) -> Driver {
        let language = language(id);
        let driver = language.repl.clone().unwrap().driver.unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join(&driver.file), driver.source).unwrap();
        for fifo in ["in.fifo", "out.fifo"] {
            let made = Command::new("/usr/bin/mkfifo")
                .arg(work.path().join(fifo))
                .status()
                .unwrap();
            assert!(made.success());
        }
        let dirs = SandboxDirs {
            work: work.path().display().to_string(),
            tmp: work.path().display().to_string(),
        };
        let child = Command::new("/bin/sh")
            .args(["-c", "exec \"$@\" 3<in.fifo 4>out.fifo", "sh"])
            .args(&driver.argv)
            .env_clear()
            .envs(language.run_environment_in(MEMORY, &dirs))
            .current_dir(work.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own, as in the sandbox: SIGINT goes to the whole group.
            .process_group(0)
            .spawn()
            .unwrap();
        let control = std::fs::OpenOptions::new()
            .write(true)
            .open(work.path().join("in.fifo"))
            .unwrap();
        let events = BufReader::new(std::fs::File::open(work.path().join("out.fifo")).unwrap());
        let mut driver = Driver {
            child,
            control,
            events,
            driver,
            _work: work,
        };
        assert_eq!(driver.event()["op"], "ready");
        driver
    }

    fn event(&mut self) -> Value {
        let mut line = String::new();
        self.events.read_line(&mut line).unwrap();
        if line.is_empty() {
            let status = self.child.wait().unwrap();
            let mut stderr = String::new();
            let _ = self
                .child
                .stderr
                .as_mut()
                .unwrap()
                .read_to_string(&mut stderr);
            panic!("the driver ended ({status}) instead of answering; its stderr:\n{stderr}");
        }
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("bad event line {line:?}"))
    }

    fn send(&mut self, message: Value) {
        writeln!(self.control, "{message}").unwrap();
    }

    fn execute(&mut self, number: usize, code: &str) {
        let marker = format!("\u{1e}marker-{number}\u{1e}");
        let mut message = json!({"op": "execute", "id": number.to_string(), "marker": marker});
        if self.driver.base64_code {
            message["code_b64"] = base64::engine::general_purpose::STANDARD
                .encode(code)
                .into();
        } else {
            message["code"] = code.into();
        }
        self.send(message);
    }

    /// SIGINT to the driver's process group, as the engine sends it.
    fn interrupt(&self) {
        let group = format!("-{}", self.child.id());
        let sent = Command::new("/bin/kill")
            .args(["-s", "INT", "--", &group])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Kills the driver's group if the returned guard is still alive after `seconds`: a
    /// driver that never answers then fails its test (its streams end) instead of hanging it.
    fn watchdog(&self, seconds: u64) -> std::sync::mpsc::Sender<()> {
        let (guard, dropped) = std::sync::mpsc::channel::<()>();
        let group = format!("-{}", self.child.id());
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                dropped.recv_timeout(std::time::Duration::from_secs(seconds))
            {
                eprintln!("watchdog: no answer in {seconds} s; killing the driver");
                let _ = Command::new("/bin/kill")
                    .args(["-s", "KILL", "--", &group])
                    .status();
            }
        });
        guard
    }

    /// One cell's stdout, stderr (markers stripped) and `done` event.
    fn cell(&mut self, number: usize, code: &str) -> (String, String, Value) {
        self.execute(number, code);
        let done = self.event();
        assert_eq!(done["op"], "done", "{done}");
        assert_eq!(done["id"], number.to_string());
        let marker = format!("\u{1e}marker-{number}\u{1e}");
        let stdout = read_to_marker(self.child.stdout.as_mut().unwrap(), &marker);
        let stderr = read_to_marker(self.child.stderr.as_mut().unwrap(), &marker);
        (stdout, stderr, done)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group, as the engine does: some drivers run their interpreter as a child.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("/bin/kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_to_marker(stream: &mut impl Read, marker: &str) -> String {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(marker.as_bytes()) {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "stream ended before the marker"
        );
        bytes.push(byte[0]);
    }
    bytes.truncate(bytes.len() - marker.len());
    String::from_utf8(bytes).unwrap()
}

fn check_state(id: &str, define: &str, use_it: &str, raise: &str) {
    let mut driver = Driver::start(id);
    let (_, _, done) = driver.cell(1, define);
    assert_eq!(done["status"], "ok", "{id}: {done}");
    let (stdout, _, done) = driver.cell(2, use_it);
    assert_eq!(
        (stdout.as_str(), done["status"].as_str()),
        ("42\n", Some("ok")),
        "{id}"
    );
    let (_, stderr, done) = driver.cell(3, raise);
    assert_eq!(done["status"], "error", "{id}: {done}");
    assert!(!stderr.is_empty(), "{id}: the error is reported on stderr");
    let (stdout, _, done) = driver.cell(4, use_it);
    assert_eq!(
        (stdout.as_str(), done["status"].as_str()),
        ("42\n", Some("ok")),
        "{id}"
    );
}

/// An error ends its cell with a named message (`ename`, and `evalue` containing `value`).
fn check_error(id: &str, code: &str, ename: &str, value: &str) {
    let mut driver = Driver::start(id);
    let (_, stderr, done) = driver.cell(1, code);
    assert_eq!(done["status"], "error", "{id}: {done}");
    assert_eq!(done["ename"], ename, "{id}: {done}");
    let evalue = done["evalue"].as_str().unwrap_or_default();
    assert!(evalue.contains(value), "{id}: {done}");
    assert!(!stderr.is_empty(), "{id}: the error is reported on stderr");
}

/// Output reaches stdout and stderr as the program wrote it: no newline added, Unicode whole.
fn check_raw(id: &str, code: &str) {
    let mut driver = Driver::start(id);
    let (stdout, stderr, done) = driver.cell(1, code);
    assert_eq!(done["status"], "ok", "{id}: {done}");
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        ("héllo → 世界", "e"),
        "{id}"
    );
}

/// A line given on stdin before the cell answers the first read; the second read, with stdin
/// empty, asks the host (`input_request` with `prompt`), whose reply it reads.
fn check_input(id: &str, code: &str, prompt: &str, expected: &str) {
    let mut driver = Driver::start(id);
    let stdin = driver.child.stdin.as_mut().unwrap();
    stdin.write_all(b"ada\n").unwrap();
    stdin.flush().unwrap();
    driver.execute(1, code);
    let request = driver.event();
    assert_eq!(
        (request["op"].as_str(), request["prompt"].as_str()),
        (Some("input_request"), Some(prompt)),
        "{id}"
    );
    driver.send(json!({"op": "input_reply", "value": "bob"}));
    let done = driver.event();
    assert_eq!(done["status"], "ok", "{id}: {done}");
    let stdout = read_to_marker(
        driver.child.stdout.as_mut().unwrap(),
        "\u{1e}marker-1\u{1e}",
    );
    assert_eq!(stdout, expected, "{id}");
}

/// SIGINT ends a running cell as `KeyboardInterrupt`; the state lives on. `looping` prints
/// `looping` and a newline, then never ends. The interrupt comes as a burst, as from a user
/// pressing Ctrl-C again and again (or a client that sends one per output event): the ones
/// that land while the driver reports the first, or while it waits for the next cell, must
/// not end the interpreter.
fn check_interrupt(id: &str, define: &str, looping: &str, use_it: &str) {
    check_interrupts(id, define, looping, use_it, INTERRUPT_BURST);
}

/// As [`check_interrupt`], with `burst` SIGINTs.
fn check_interrupts(id: &str, define: &str, looping: &str, use_it: &str, burst: usize) {
    let mut driver = Driver::start(id);
    let _watchdog = driver.watchdog(60);
    let (_, _, done) = driver.cell(1, define);
    assert_eq!(done["status"], "ok", "{id}: {done}");
    driver.execute(2, looping);
    let stdout = driver.child.stdout.as_mut().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"looping\n") {
        assert_eq!(stdout.read(&mut byte).unwrap(), 1, "{id}: stdout ended");
        seen.push(byte[0]);
    }
    for _ in 0..burst {
        driver.interrupt();
    }
    let done = driver.event();
    assert_eq!(
        (done["status"].as_str(), done["ename"].as_str()),
        (Some("error"), Some("KeyboardInterrupt")),
        "{id}: {done}"
    );
    read_to_marker(
        driver.child.stdout.as_mut().unwrap(),
        "\u{1e}marker-2\u{1e}",
    );
    read_to_marker(
        driver.child.stderr.as_mut().unwrap(),
        "\u{1e}marker-2\u{1e}",
    );
    let (stdout, stderr, done) = driver.cell(3, use_it);
    assert_eq!(
        (stdout.as_str(), done["status"].as_str()),
        ("42\n", Some("ok")),
        "{id}: the cell after the interrupted one: {done}; stderr: {stderr}"
    );
}

#[test]
fn python_keeps_state_across_cells_and_errors() {
    check_state(
        "python",
        "x = 41\ndef f():\n    return x + 1",
        "print(f())",
        "1/0",
    );
    let mut driver = Driver::start("python");
    let (_, _, done) = driver.cell(1, "raise ValueError('nope')");
    assert_eq!(
        (done["ename"].as_str(), done["evalue"].as_str()),
        (Some("ValueError"), Some("nope"))
    );
}

#[test]
fn javascript_keeps_state_across_cells_and_errors() {
    check_state(
        "javascript",
        "let x = 41; function f() { return x + 1 }",
        "console.log(f())",
        "null.y",
    );
}

#[test]
fn ruby_keeps_state_across_cells_and_errors() {
    check_state(
        "ruby",
        "x = 41\ndef f(v) = v + 1",
        "puts f(x)",
        "raise 'boom'",
    );
}

#[test]
fn php_keeps_state_across_cells_and_errors() {
    check_state(
        "php",
        "$x = 41; function f($v) { return $v + 1; }",
        "echo f($x), \"\\n\";",
        "throw new Exception('boom');",
    );
}

#[test]
fn bash_keeps_state_across_cells_and_errors() {
    check_state(
        "bash",
        "x=41; f() { echo $((x + 1)); }",
        "f",
        "ls /nonexistent",
    );
}

#[test]
fn perl_keeps_state_across_cells_and_errors() {
    check_state(
        "perl",
        "our $x = 41; sub f { return $_[0] + 1 }",
        "print f($x), \"\\n\";",
        "die \"boom\\n\";",
    );
}

#[test]
fn lua_keeps_state_across_cells_and_errors() {
    check_state(
        "lua",
        "x = 41; function f(v) return v + 1 end",
        "print(f(x))",
        "error('boom')",
    );
}

#[test]
fn python_input_asks_the_host() {
    let mut driver = Driver::start("python");
    driver.execute(1, "name = input('who? ')\nprint('hi', name)");
    let request = driver.event();
    assert_eq!(
        (request["op"].as_str(), request["prompt"].as_str()),
        (Some("input_request"), Some("who? "))
    );
    driver.send(json!({"op": "input_reply", "value": "ada"}));
    let done = driver.event();
    assert_eq!(done["status"], "ok", "{done}");
    let stdout = read_to_marker(
        driver.child.stdout.as_mut().unwrap(),
        "\u{1e}marker-1\u{1e}",
    );
    assert_eq!(stdout, "hi ada\n");
}

#[test]
fn output_without_a_newline_is_kept_whole() {
    let mut driver = Driver::start("python");
    let (stdout, stderr, _) =
        driver.cell(1, "import sys\nprint('a', end='')\nsys.stderr.write('b')");
    assert_eq!((stdout.as_str(), stderr.as_str()), ("a", "b"));
}

#[test]
fn r_keeps_state_across_cells_and_errors() {
    check_state(
        "r",
        "x <- 41\nf <- function(v) {\n  v + 1\n}",
        "cat(f(x), \"\\n\", sep = \"\")",
        "stop(\"boom\")",
    );
    let mut driver = Driver::start("r");
    let (stdout, _, _) = driver.cell(1, "y <- 6 * 7\ny");
    assert_eq!(
        stdout, "[1] 42\n",
        "a visible value is printed as at R's prompt"
    );
}

#[test]
fn tcl_keeps_state_across_cells_and_errors() {
    check_state(
        "tcl",
        "set x 41\nproc f {v} {\n    return [expr {$v + 1}]\n}",
        "puts [f $x]",
        "error boom",
    );
}

#[test]
fn sql_keeps_state_across_cells_and_errors() {
    check_state(
        "sql",
        "CREATE TABLE t(x);\nINSERT INTO t VALUES (41);",
        "SELECT x + 1 FROM t;",
        "SELECT * FROM missing;",
    );
}

#[test]
fn scheme_keeps_state_across_cells_and_errors() {
    check_state(
        "scheme",
        "(define x 41)\n(define (f v)\n  (+ v 1))",
        "(display (f x))\n(newline)",
        "(error \"boom\")",
    );
}

#[test]
fn commonlisp_keeps_state_across_cells_and_errors() {
    check_state(
        "commonlisp",
        "(defvar *x* 41)\n(defun f (v)\n  (+ v 1))",
        "(format t \"~A~%\" (f *x*))",
        "(error \"boom\")",
    );
}

#[test]
fn ocaml_keeps_state_across_cells_and_errors() {
    check_state(
        "ocaml",
        "let x = 41\nlet f v =\n  v + 1",
        "print_int (f x); print_newline ()",
        "failwith \"boom\"",
    );
}

#[test]
fn erlang_keeps_state_across_cells_and_errors() {
    check_state(
        "erlang",
        "X = 41.\nf(V) ->\n    V + 1.",
        "io:format(\"~p~n\", [f(X)]).",
        "1 / 0.",
    );
    check_error("erlang", "erlang:error(boom).", "error", "boom");
    check_raw(
        "erlang",
        "io:format(\"~ts\", [\"héllo → 世界\"]), io:format(standard_error, \"e\", []).",
    );
    check_input(
        "erlang",
        "A = io:get_line(\"a? \"), io:format(\"hi ~ts\", [A]),\n\
         B = io:get_line(\"b? \"), io:format(\"hi ~ts\", [B]).",
        "b? ",
        "a? hi ada\nhi bob\n",
    );
    check_interrupts(
        "erlang",
        "X = 42.\nspin() -> spin().",
        "io:format(\"looping~n\"), spin().",
        "io:format(\"~p~n\", [X]).",
        ONE_INTERRUPT,
    );
}

#[test]
fn elixir_keeps_state_across_cells_and_errors() {
    check_state(
        "elixir",
        "import Enum\nx = 41\ndefmodule M do\n  def f(v), do: v + 1\nend",
        "IO.puts(M.f(x) |> List.wrap() |> sum())",
        "raise \"boom\"",
    );
    check_error(
        "elixir",
        "raise ArgumentError, \"nope\"",
        "ArgumentError",
        "nope",
    );
    check_raw(
        "elixir",
        "IO.write(\"héllo → 世界\"); IO.write(:stderr, \"e\")",
    );
    check_input(
        "elixir",
        "a = IO.gets(\"a? \"); IO.write(\"hi #{a}\")\nb = IO.gets(\"b? \"); IO.write(\"hi #{b}\")",
        "b? ",
        "a? hi ada\nhi bob\n",
    );
    check_interrupts(
        "elixir",
        "x = 42",
        "IO.puts(\"looping\"); Process.sleep(:infinity)",
        "IO.puts(x)",
        ONE_INTERRUPT,
    );
}

#[test]
fn haskell_keeps_state_across_cells_and_errors() {
    check_state(
        "haskell",
        "import Data.List (sort)\nx = 41\nf :: Int -> Int\nf v =\n  v + 1",
        "print (head (sort [f x]))",
        "error \"boom\"",
    );
    check_error(
        "haskell",
        "print (1 `div` (0 :: Int))",
        "Exception",
        "divide by zero",
    );
    check_error("haskell", "print (g 1)", "CompileError", "not in scope");
    check_raw(
        "haskell",
        "import System.IO\nputStr \"héllo → 世界\" >> hPutStr stderr \"e\"",
    );
    check_interrupt(
        "haskell",
        "x = 42",
        "let spin n = if n < (0 :: Int) then n else spin (n + 1)\nputStrLn \"looping\"\nprint (spin 0)",
        "print x",
    );
    // A whole program runs: its `main` is run when the cell defines it and runs nothing else.
    let mut driver = Driver::start("haskell");
    let stdin = driver.child.stdin.as_mut().unwrap();
    stdin.write_all(b"ada\n").unwrap();
    stdin.flush().unwrap();
    let (stdout, _, done) = driver.cell(
        1,
        "module Main where\n\nmain :: IO ()\nmain = do\n  line <- getLine\n  putStrLn (\"hi \" ++ line)",
    );
    assert_eq!(done["status"], "ok", "{done}");
    assert_eq!(stdout, "hi ada\n", "getLine reads the session's stdin");
}

#[test]
fn groovy_keeps_state_across_cells_and_errors() {
    check_state(
        "groovy",
        "import groovy.json.JsonOutput\ndef x = 41\ndef f(v) {\n    v + 1\n}",
        "println JsonOutput.toJson(f(x))",
        "throw new RuntimeException('boom')",
    );
    check_error(
        "groovy",
        "throw new IllegalStateException('nope')",
        "IllegalStateException",
        "nope",
    );
    check_raw("groovy", "print 'héllo → 世界'; System.err.print('e')");
    check_input(
        "groovy",
        "def r = new BufferedReader(new InputStreamReader(System.in))\n\
         println 'hi ' + r.readLine()\nprintln 'hi ' + r.readLine()",
        "",
        "hi ada\nhi bob\n",
    );
    check_interrupts(
        "groovy",
        "x = 42",
        "println 'looping'; while (true) { }",
        "println x",
        ONE_INTERRUPT,
    );
}

#[test]
fn clojure_keeps_state_across_cells_and_errors() {
    check_state(
        "clojure",
        "(require '[clojure.string :as str])\n(def x 41)\n(defn f [v]\n  (+ v 1))",
        "(println (str/trim (str \" \" (f x))))",
        "(/ 1 0)",
    );
    check_error(
        "clojure",
        "(throw (IllegalStateException. \"nope\"))",
        "IllegalStateException",
        "nope",
    );
    check_raw(
        "clojure",
        "(print \"héllo → 世界\") (.print System/err \"e\")",
    );
    check_input(
        "clojure",
        "(println \"hi\" (read-line))\n(println \"hi\" (read-line))",
        "",
        "hi ada\nhi bob\n",
    );
    check_interrupts(
        "clojure",
        "(def x 42)",
        "(println \"looping\") (loop [] (recur))",
        "(println x)",
        ONE_INTERRUPT,
    );
}

#[test]
fn java_keeps_state_across_cells_and_errors() {
    check_state(
        "java",
        "import java.util.*;\nint x = 41;\nint f(int v) {\n    return v + 1;\n}",
        "System.out.println(new ArrayList<>(List.of(f(x))).get(0));",
        "throw new RuntimeException(\"boom\");",
    );
    check_error(
        "java",
        "throw new IllegalStateException(\"nope\");",
        "IllegalStateException",
        "nope",
    );
    check_error(
        "java",
        "System.out.println(y);",
        "CompileError",
        "cannot find symbol",
    );
    check_raw(
        "java",
        "System.out.print(\"héllo → 世界\"); System.err.print(\"e\");",
    );
    check_input(
        "java",
        "var r = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));\n\
         System.out.println(\"hi \" + r.readLine());\nSystem.out.println(\"hi \" + r.readLine());",
        "",
        "hi ada\nhi bob\n",
    );
    check_interrupts(
        "java",
        "int x = 42;",
        "System.out.println(\"looping\"); while (true) { }",
        "System.out.println(x);",
        ONE_INTERRUPT,
    );
    // A whole program runs: its main is called when the cell declares it and runs nothing else.
    let mut driver = Driver::start("java");
    let (stdout, _, done) = driver.cell(
        1,
        "public class Main {\n    public static void main(String[] args) {\n        \
         System.out.println(\"program \" + args.length);\n    }\n}",
    );
    assert_eq!(done["status"], "ok", "{done}");
    assert_eq!(stdout, "program 0\n");
}

#[test]
fn prolog_keeps_state_across_cells_and_errors() {
    check_state(
        "prolog",
        ":- use_module(library(lists)).\nx(41).\nf(V, W) :-\n    W is V + 1.",
        ":- x(X), f(X, Y), sum_list([Y], S), format(\"~w~n\", [S]).",
        ":- X is 1 / 0, writeln(X).",
    );
    check_error(
        "prolog",
        ":- undefined_pred.",
        "existence_error",
        "undefined_pred/0",
    );
    check_raw(
        "prolog",
        ":- format(\"héllo → 世界\"), format(user_error, \"e\", []).",
    );
    check_input(
        "prolog",
        ":- read_line_to_string(user_input, A), format(\"hi ~w~n\", [A]),\n   \
         read_line_to_string(user_input, B), format(\"hi ~w~n\", [B]).",
        "",
        "hi ada\nhi bob\n",
    );
    check_interrupt(
        "prolog",
        "x(42).",
        "spin :- spin.\n:- writeln(looping), flush_output, spin.",
        ":- x(X), writeln(X).",
    );
    // A program with `:- initialization(main, main).` runs its main (and the driver lives on).
    let mut driver = Driver::start("prolog");
    let (stdout, _, done) = driver.cell(
        1,
        ":- initialization(main, main).\nmain :- writeln(program).",
    );
    assert_eq!(
        (stdout.as_str(), done["status"].as_str()),
        ("program\n", Some("ok"))
    );
    let (stdout, _, _) = driver.cell(2, ":- main.");
    assert_eq!(stdout, "program\n");
}

#[test]
fn scala_keeps_state_across_cells_and_errors() {
    check_state(
        "scala",
        "import scala.collection.mutable.ListBuffer\nval x = 41\ndef f(v: Int): Int =\n  v + 1",
        "println(ListBuffer(f(x)).head)",
        "throw new RuntimeException(\"boom\")",
    );
    check_error("scala", "println(y)", "CompileError", "compile-time error");
    check_raw("scala", "print(\"héllo → 世界\"); System.err.print(\"e\")");
    check_interrupts(
        "scala",
        "val x = 42",
        "println(\"looping\"); while (true) {}",
        "println(x)",
        ONE_INTERRUPT,
    );
}

#[test]
fn kotlin_keeps_state_across_cells_and_errors() {
    check_state(
        "kotlin",
        "import java.util.ArrayList\nval x = 41\nfun f(v: Int): Int =\n    v + 1",
        "println(ArrayList(listOf(f(x)))[0])",
        "throw RuntimeException(\"boom\")",
    );
    check_error(
        "kotlin",
        "println(y)",
        "CompileError",
        "Unresolved reference",
    );
    check_raw("kotlin", "print(\"héllo → 世界\"); System.err.print(\"e\")");
    check_input(
        "kotlin",
        "println(\"hi \" + readLine())\nprintln(\"hi \" + readLine())",
        "",
        "hi ada\nhi bob\n",
    );
    check_interrupts(
        "kotlin",
        "val x = 42",
        "println(\"looping\"); while (true) {}",
        "println(x)",
        ONE_INTERRUPT,
    );
    // A whole program runs: `fun main` alone in a cell is called.
    let mut driver = Driver::start("kotlin");
    let (stdout, _, done) = driver.cell(1, "fun main() {\n    println(\"program\")\n}");
    assert_eq!(done["status"], "ok", "{done}");
    assert_eq!(stdout, "program\n");
}

// SIGINT in the drivers of the scripting languages (the JVM, BEAM, GHCi and Prolog drivers
// check it in their own tests above). SQL has none: a SIGINT ends the sqlite3 shell, as
// docs/languages.md says.

#[test]
fn python_sigint_ends_only_its_cell() {
    check_interrupt(
        "python",
        "x = 42",
        "import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.01)",
        "print(x)",
    );
    check_interrupt(
        "python",
        "x = 42",
        "print('looping', flush=True)\nwhile True:\n    pass",
        "print(x)",
    );
}

/// One SIGINT only: node's breakOnSigint, which stops a running script, takes a burst badly
/// (one that lands just after the script ended, before the driver's own handler is back,
/// ends node); the engine passes a cell's SIGINTs on at most one per 500 ms.
#[test]
fn javascript_sigint_ends_only_its_cell() {
    check_interrupts(
        "javascript",
        "let x = 42",
        "console.log('looping'); while (true) {}",
        "console.log(x)",
        1,
    );
    // Interrupted inside console.log (in node's stream code) rather than in the cell's own.
    check_interrupts(
        "javascript",
        "let x = 42",
        "while (true) console.log('looping')",
        "console.log(x)",
        1,
    );
}

#[test]
fn ruby_sigint_ends_only_its_cell() {
    check_interrupt(
        "ruby",
        "x = 42",
        "puts 'looping'; $stdout.flush; loop {}",
        "puts x",
    );
}

#[test]
fn php_sigint_ends_only_its_cell() {
    check_interrupt(
        "php",
        "$x = 42;",
        "echo \"looping\\n\"; while (true) {}",
        "echo $x, \"\\n\";",
    );
}

#[test]
fn bash_sigint_ends_only_its_cell() {
    check_interrupt(
        "bash",
        "x=42",
        "echo looping; while :; do :; done",
        "echo $x",
    );
    check_interrupt("bash", "x=42", "echo looping; sleep 600", "echo $x");
}

#[test]
fn perl_sigint_ends_only_its_cell() {
    check_interrupt(
        "perl",
        "our $x = 42;",
        "$| = 1; print \"looping\\n\"; while (1) {}",
        "print $x, \"\\n\";",
    );
}

/// One SIGINT only: lua5.4 takes the first of a session (its handler stops the running code)
/// and then restores the default action, so a second one ends the interpreter (a limit of
/// the stock interpreter, documented in docs/languages.md).
#[test]
fn lua_sigint_ends_only_its_cell() {
    check_interrupts(
        "lua",
        "x = 42",
        "print('looping'); io.stdout:flush(); while true do end",
        "print(x)",
        1,
    );
}

#[test]
fn r_sigint_ends_only_its_cell() {
    check_interrupt(
        "r",
        "x <- 42",
        "cat('looping\\n'); repeat {}",
        "cat(x, \"\\n\", sep = \"\")",
    );
}

#[test]
fn tcl_sigint_ends_only_its_cell() {
    check_interrupt(
        "tcl",
        "set x 42",
        "puts looping; flush stdout; while 1 {}",
        "puts $x",
    );
}

#[test]
fn scheme_sigint_ends_only_its_cell() {
    check_interrupt(
        "scheme",
        "(define x 42)",
        "(display \"looping\")\n(newline)\n(let spin () (spin))",
        "(display x)\n(newline)",
    );
}

#[test]
fn commonlisp_sigint_ends_only_its_cell() {
    check_interrupt(
        "commonlisp",
        "(defvar *x* 42)",
        "(format t \"looping~%\")\n(finish-output)\n(loop)",
        "(format t \"~A~%\" *x*)",
    );
}

#[test]
fn ocaml_sigint_ends_only_its_cell() {
    check_interrupt(
        "ocaml",
        "let x = 42",
        "let () = print_endline \"looping\"; while true do () done",
        "print_int x; print_newline ()",
    );
}
