//! The session drivers against the real interpreters on this host: state persists across
//! cells, an error ends only its cell, markers follow each cell's output on both streams, and
//! Python's `input()` asks the host over the control channel.

// Test helpers panic on setup failures; that is the test failing.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use runnel_languages::{Language, Registry, SandboxDirs, SessionDriver};
use serde_json::{json, Value};

const MEMORY: u64 = 256 * 1024 * 1024;

fn language(id: &str) -> Language {
    let registry = Registry::embedded().unwrap().detect();
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
