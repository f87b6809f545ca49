//! The fleet's test harness: a real `nats-server` (Debian's package) on a free loopback port,
//! and real `runnel node` processes on it; `gateway.rs` has the gateway's side.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::RUNNEL;

pub mod gateway;

/// Debian's `nats-server`.
pub const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// A `nats-server` of the test's own.
pub struct Nats {
    pub url: String,
    child: Child,
}

impl Nats {
    /// Start one on a free port of 127.0.0.1.
    pub fn start() -> Nats {
        let (child, address) = spawn_nats("-1");
        Nats {
            url: format!("nats://{address}"),
            child,
        }
    }

    /// Kill it (SIGKILL: its clients see the connection drop) and start it again on the same
    /// port; returns once it listens.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.url.rsplit(':').next().expect("a port").to_owned();
        let (child, address) = spawn_nats(&port);
        assert_eq!(format!("nats://{address}"), self.url, "the same address");
        self.child = child;
    }
}

/// `nats-server` on `port` of 127.0.0.1 (`-1`: a free one), and the address it listens on.
fn spawn_nats(port: &str) -> (Child, String) {
    assert!(
        Path::new(NATS_SERVER).exists(),
        "{NATS_SERVER} is missing: install Debian's nats-server (scripts/ci-setup.sh does)"
    );
    let mut child = Command::new(NATS_SERVER)
        .args(["-a", "127.0.0.1", "-p", port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nats-server");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some((_, address)) = line.split_once("Listening for client connections on ") {
                let _ = sender.send(address.trim().to_owned());
            }
        }
    });
    let address = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("nats-server printed its address");
    (child, address)
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `runnel node` process.
pub struct NodeProcess {
    pub id: String,
    pub data_dir: tempfile::TempDir,
    child: Child,
}

impl NodeProcess {
    /// Start node `id` on `nats`, with `extra_args`, and wait until it is on the bus.
    pub fn start(nats: &Nats, id: &str, extra_args: &[&str]) -> NodeProcess {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(RUNNEL)
            .args(["node", "--nats", &nats.url, "--node-id", id])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--pool-languages", "python", "--pool-size", "1"])
            .args(["--session-pool-size", "0", "--stop-on-stdin-close"])
            .args(extra_args)
            .env(
                "RUNNEL_LOG",
                std::env::var("RUNNEL_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn runnel node");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("runnel node ") {
                    let _ = sender.send(());
                }
            }
        });
        receiver
            .recv_timeout(Duration::from_secs(120))
            .expect("runnel node said it is on the bus");
        NodeProcess {
            id: id.to_owned(),
            data_dir,
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM: the node drains.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGKILL, and reap it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Wait for it to exit by itself.
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // Closing stdin stops it at once (--stop-on-stdin-close).
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
