//! Test harness: a real `runnel serve` process on a free loopback port, a real API key made
//! with `runnel keys create`, and small WebSocket (`ws.rs`) and HTTP (`http.rs`) helpers,
//! re-exported here. `session.rs` has the helpers of the `sessions_*` tests.
#![allow(dead_code, clippy::disallowed_methods, missing_docs, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub mod fleet;
mod http;
pub mod session;
mod ws;

// Each test file uses some of the helpers, not all: a re-export none of its callers use is fine.
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use ws::*;

pub const RUNNEL: &str = env!("CARGO_BIN_EXE_runnel");

/// How long any single expected message may take before a test fails (generous: CI machines
/// are shared, and this bounds a hang, it measures nothing).
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Server {
    pub address: SocketAddr,
    /// A tenant key.
    pub key: String,
    /// An operator key (`/metrics`, `/api/v1/stats`).
    pub operator_key: String,
    /// The `--metrics-listen` address, when the server was given one.
    pub metrics_address: Option<SocketAddr>,
    pub data_dir: tempfile::TempDir,
    /// The `--data-dir` given to the server: `data_dir`'s path unless [`Server::start_in`]
    /// named another.
    pub data_path: PathBuf,
    child: Child,
    stopped: bool,
}

impl Server {
    pub fn start(extra_args: &[&str]) -> Server {
        Server::start_under(None, extra_args)
    }

    /// As [`Server::start`], with the shell commands `prelude` (such as `ulimit -Sn 512`) run
    /// first in the shell that then becomes the server.
    pub fn start_under(prelude: Option<&str>, extra_args: &[&str]) -> Server {
        Server::launch(Path::new(RUNNEL), prelude, extra_args, None)
    }

    /// As [`Server::start`], running the `runnel` binary at `binary` (a copy, say).
    pub fn start_from(binary: &Path, extra_args: &[&str]) -> Server {
        Server::launch(binary, None, extra_args, None)
    }

    /// As [`Server::start`], with its data in `data_path` (which the caller keeps).
    pub fn start_in(data_path: &Path, extra_args: &[&str]) -> Server {
        Server::launch(Path::new(RUNNEL), None, extra_args, Some(data_path))
    }

    fn launch(
        binary: &Path,
        prelude: Option<&str>,
        extra_args: &[&str],
        data_path: Option<&Path>,
    ) -> Server {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let data_path = data_path.unwrap_or(data_dir.path()).to_owned();
        let key = create_key(&data_path, &[]);
        let operator_key = create_key(&data_path, &["--name", "operator", "--scope", "operator"]);
        let mut command = match prelude {
            None => Command::new(binary),
            Some(prelude) => {
                let mut shell = Command::new("bash");
                shell
                    .args(["-c", &format!("{prelude} && exec \"$0\" \"$@\"")])
                    .arg(binary);
                shell
            }
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--stop-on-stdin-close"])
            .arg("--data-dir")
            .arg(&data_path)
            .args(extra_args)
            // RUNNEL_TEST_LOG (a log filter) shows the server's log when debugging a test.
            .env(
                "RUNNEL_LOG",
                std::env::var("RUNNEL_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("spawn runnel serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        let (metrics_sender, metrics_receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Printed before the listening line.
                if let Some(rest) = line.strip_prefix("runnel metrics on http://") {
                    let address = rest.split('/').next().unwrap_or_default().to_owned();
                    let _ = metrics_sender.send(address);
                }
                if let Some(rest) = line.strip_prefix("runnel listening on http://") {
                    let address = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = sender.send(address);
                }
            }
        });
        let address = receiver
            .recv_timeout(Duration::from_secs(120))
            .expect("runnel serve printed its address")
            .parse()
            .expect("address parses");
        let metrics_address = metrics_receiver
            .try_recv()
            .ok()
            .map(|address| address.parse().expect("metrics address parses"));
        Server {
            metrics_address,
            address,
            key,
            operator_key,
            data_dir,
            data_path,
            child,
            stopped: false,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub fn create_key(&self, args: &[&str]) -> String {
        create_key(&self.data_path, args)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the server to exit by itself (within [`PATIENCE`]).
    pub fn wait_for_exit(mut self) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for runnel serve") {
                self.stopped = true;
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "runnel serve did not exit within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send the server SIGTERM (a graceful stop; again: at once) without waiting for it.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill {}", self.child.id());
    }

    /// Stop the server the way an operator does (SIGTERM) and wait for it.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait for runnel serve");
        self.stopped = true;
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        // Closing its stdin stops it at once (`--stop-on-stdin-close`), without the grace a
        // SIGTERM gives runs in flight.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

pub fn create_key(data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(RUNNEL)
        .args(["keys", "create", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("RUNNEL_LOG", "warn")
        .output()
        .expect("runnel keys create");
    assert!(output.status.success(), "keys create failed: {output:?}");
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    stdout
        .lines()
        .last()
        .expect("a last line")
        .trim()
        .to_owned()
}

/// A Python interpreter with the `websockets` package, for the seed's quickstart (set up by
/// `.ci/run`; see scripts/ci-setup.sh).
pub fn python_with_websockets() -> PathBuf {
    let path = std::env::var("RUNNEL_TEST_PYTHON")
        .unwrap_or_else(|_| "/opt/runnel-ci/venv/bin/python".to_owned());
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "missing test prerequisite: {} (a Python with the `websockets` package; run scripts/ci-setup.sh)",
        path.display()
    );
    path
}

/// The pids of the processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let ppid = status
            .lines()
            .find_map(|line| line.strip_prefix("PPid:"))
            .and_then(|value| value.trim().parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// The pid of the server's sandbox spawner (its child `runnel __spawner`), if one runs.
pub fn spawner_pid(server: &Server) -> Option<u32> {
    children_of(server.pid()).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|cmdline| cmdline.windows(9).any(|w| w == b"__spawner"))
            .unwrap_or(false)
    })
}
