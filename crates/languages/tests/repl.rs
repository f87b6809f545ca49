//! The session drivers against the real interpreters on this host, with the `[repl]` cases of
//! every `languages/<id>/cases.toml`: state persists across cells, an error ends only its
//! cell, markers follow each cell's output on both streams, a read with stdin empty asks the
//! host over the control channel, and SIGINT ends only the running cell.
//!
//! Each case runs in a fresh driver; the languages run on a few threads. All failures of all
//! languages are collected and reported together, with a line per language.
//! `RUNNEL_REPL_ONLY=python,lua` restricts the run to some languages (while iterating).

// Test helpers panic on setup failures; that is the test failing.
#![allow(clippy::unwrap_used)]
// A test reads its own knob from the environment, not the server's configuration.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use runnel_languages::cases::{self, Cell, Input, Interrupt, Repl, ReplError, Session, State};
use runnel_languages::{Language, Registry, SandboxDirs, SessionDriver};
use serde_json::{json, Value};

const MEMORY: u64 = 256 * 1024 * 1024;

/// The languages installed on this host: one detection for the whole suite.
fn language(id: &str) -> Language {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    let registry = REGISTRY.get_or_init(|| {
        Registry::embedded(&common::host_dirs())
            .unwrap()
            .detect(&common::host_dirs())
    });
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

/// `define`, then `use` prints 42; `raise` fails (reported on stderr); `use` still prints 42.
fn check_state(id: &str, case: &State) {
    let mut driver = Driver::start(id);
    let (_, _, done) = driver.cell(1, &case.define);
    assert_eq!(done["status"], "ok", "{id}: {done}");
    let (stdout, _, done) = driver.cell(2, &case.use_it);
    assert_eq!(
        (stdout.as_str(), done["status"].as_str()),
        ("42\n", Some("ok")),
        "{id}"
    );
    let (_, stderr, done) = driver.cell(3, &case.raise);
    assert_eq!(done["status"], "error", "{id}: {done}");
    assert!(!stderr.is_empty(), "{id}: the error is reported on stderr");
    let (stdout, _, done) = driver.cell(4, &case.use_it);
    assert_eq!(
        (stdout.as_str(), done["status"].as_str()),
        ("42\n", Some("ok")),
        "{id}"
    );
}

/// An error ends its cell with a named message (`ename`, and `evalue` containing the value).
fn check_error(id: &str, case: &ReplError) {
    let mut driver = Driver::start(id);
    let (_, stderr, done) = driver.cell(1, &case.code);
    assert_eq!(done["status"], "error", "{id}: {done}");
    assert_eq!(done["ename"], case.ename.as_str(), "{id}: {done}");
    let evalue = done["evalue"].as_str().unwrap_or_default();
    assert!(evalue.contains(&case.evalue), "{id}: {done}");
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

/// A line given on stdin before the cell (if any) answers the first read; the next read, with
/// stdin empty, asks the host (`input_request` with `prompt`), whose reply it reads.
fn check_input(id: &str, case: &Input) {
    let mut driver = Driver::start(id);
    if !case.stdin.is_empty() {
        let stdin = driver.child.stdin.as_mut().unwrap();
        stdin.write_all(case.stdin.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    driver.execute(1, &case.code);
    let request = driver.event();
    assert_eq!(
        (request["op"].as_str(), request["prompt"].as_str()),
        (Some("input_request"), Some(case.prompt.as_str())),
        "{id}"
    );
    driver.send(json!({"op": "input_reply", "value": case.reply}));
    let done = driver.event();
    assert_eq!(done["status"], "ok", "{id}: {done}");
    let stdout = read_to_marker(
        driver.child.stdout.as_mut().unwrap(),
        "\u{1e}marker-1\u{1e}",
    );
    assert_eq!(stdout, case.expected, "{id}");
}

/// SIGINT ends a running cell as `KeyboardInterrupt`; the state lives on. `looping` prints
/// `looping` and a newline, then never ends. The interrupt comes as a burst (`burst` SIGINTs),
/// as from a user pressing Ctrl-C again and again (or a client that sends one per output
/// event): the ones that land while the driver reports the first, or while it waits for the
/// next cell, must not end the interpreter.
fn check_interrupt(id: &str, case: &Interrupt) {
    let mut driver = Driver::start(id);
    let _watchdog = driver.watchdog(60);
    let (_, _, done) = driver.cell(1, &case.define);
    assert_eq!(done["status"], "ok", "{id}: {done}");
    driver.execute(2, &case.looping);
    let stdout = driver.child.stdout.as_mut().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"looping\n") {
        assert_eq!(stdout.read(&mut byte).unwrap(), 1, "{id}: stdout ended");
        seen.push(byte[0]);
    }
    for _ in 0..case.burst {
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
    let (stdout, stderr, done) = driver.cell(3, &case.use_it);
    assert_eq!(
        (stdout.as_str(), done["status"].as_str()),
        ("42\n", Some("ok")),
        "{id}: the cell after the interrupted one: {done}; stderr: {stderr}"
    );
}

/// The cells in one driver, after `stdin` is written; each gives what its case says.
fn check_session(id: &str, case: &Session) {
    let mut driver = Driver::start(id);
    if !case.stdin.is_empty() {
        let stdin = driver.child.stdin.as_mut().unwrap();
        stdin.write_all(case.stdin.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    for (number, cell) in (1..).zip(&case.cell) {
        let (stdout, stderr, done) = driver.cell(number, &cell.code);
        let about = format!("{id}, {}, cell {number}: {done}", case.about);
        let Cell {
            stdout: want_stdout,
            stderr: want_stderr,
            status,
            ename,
            evalue,
            ..
        } = cell;
        if let Some(status) = status {
            assert_eq!(done["status"], status.as_str(), "{about}");
        }
        if let Some(ename) = ename {
            assert_eq!(done["ename"], ename.as_str(), "{about}");
        }
        if let Some(evalue) = evalue {
            assert_eq!(done["evalue"], evalue.as_str(), "{about}");
        }
        if let Some(want) = want_stdout {
            assert_eq!(&stdout, want, "{about}");
        }
        if let Some(want) = want_stderr {
            assert_eq!(&stderr, want, "{about}");
        }
    }
}

/// Every case of one language, each caught on its own: the failures, each naming its case.
fn run_language(id: &str, repl: &Repl) -> (usize, Vec<String>) {
    let mut checks: Vec<(String, Box<dyn Fn() + '_>)> = Vec::new();
    checks.push(("state".into(), Box::new(|| check_state(id, &repl.state))));
    for (n, case) in repl.error.iter().enumerate() {
        checks.push((
            format!("error {}", n + 1),
            Box::new(move || check_error(id, case)),
        ));
    }
    for (n, case) in repl.raw.iter().enumerate() {
        checks.push((
            format!("raw {}", n + 1),
            Box::new(move || check_raw(id, &case.code)),
        ));
    }
    for (n, case) in repl.input.iter().enumerate() {
        checks.push((
            format!("input {}", n + 1),
            Box::new(move || check_input(id, case)),
        ));
    }
    for (n, case) in repl.interrupt.iter().enumerate() {
        checks.push((
            format!("interrupt {}", n + 1),
            Box::new(move || check_interrupt(id, case)),
        ));
    }
    for case in &repl.session {
        checks.push((
            format!("session ({})", case.about),
            Box::new(move || check_session(id, case)),
        ));
    }
    let count = checks.len();
    let mut failures = Vec::new();
    for (name, check) in checks {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{id} {name}: {message}"));
        }
    }
    (count, failures)
}

fn all_cases() -> Vec<cases::LanguageCases> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages");
    cases::load(&dir).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_language_with_a_session_driver_has_session_cases() {
    let registry = Registry::embedded(&common::host_dirs()).unwrap();
    for case in all_cases() {
        let driver = registry
            .get(&case.id)
            .and_then(|language| language.repl.as_ref())
            .and_then(|repl| repl.driver.as_ref());
        assert_eq!(
            driver.is_some(),
            case.repl.is_some(),
            "{}: a session driver needs [repl] cases, and [repl] cases need a driver",
            case.file.display()
        );
    }
}

#[test]
fn every_session_driver_passes_its_cases() {
    let only: Option<Vec<String>> = std::env::var("RUNNEL_REPL_ONLY")
        .ok()
        .map(|ids| ids.split(',').map(str::to_owned).collect());
    let languages: Vec<(String, Repl)> = all_cases()
        .into_iter()
        .filter(|case| only.as_ref().is_none_or(|only| only.contains(&case.id)))
        .filter_map(|case| Some((case.id, case.repl?)))
        .collect();
    let next = std::sync::Mutex::new(languages.iter());
    let results = std::sync::Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some((id, repl)) = next.lock().unwrap().next() else {
                    break;
                };
                let started = std::time::Instant::now();
                let (count, failures) = run_language(id, repl);
                let elapsed = started.elapsed().as_secs_f64();
                results
                    .lock()
                    .unwrap()
                    .push((id.clone(), count, elapsed, failures));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = String::new();
    let mut failures = Vec::new();
    let mut total = 0;
    for (id, count, elapsed, found) in results {
        summary.push_str(&format!(
            "{id:<11} {elapsed:>6.1} s  {}  {count} cases\n",
            if found.is_empty() { "ok  " } else { "FAIL" }
        ));
        total += count;
        failures.extend(found);
    }
    eprintln!("{summary}{total} cases");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
