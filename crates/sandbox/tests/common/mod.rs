//! Shared helpers for the sandbox integration tests (real sandboxes, run as root).
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use runnel_sandbox::{
    CommandSpec, HostConfig, Outcome, Process, Sandbox, SandboxSpec, Spawner, StdioMode,
};
use tokio::io::AsyncReadExt;

pub const MIB: u64 = 1024 * 1024;

/// Starts a spawner; fails (never skips) naming what the host lacks.
pub async fn spawner() -> Spawner {
    let config = HostConfig {
        spawner_exe: env!("CARGO_BIN_EXE_runnel-spawner").into(),
        unconfined: false,
    };
    match Spawner::start(config).await {
        Ok(spawner) => spawner,
        Err(err) => panic!(
            "the sandbox cannot start on this host: {err}\n{}",
            runnel_sandbox::doctor()
        ),
    }
}

pub fn spec() -> SandboxSpec {
    SandboxSpec {
        binds: Vec::new(),
        memory_bytes: 256 * MIB,
        pids: 64,
        cpus: None,
        work_bytes: 32 * MIB,
        tmp_bytes: 32 * MIB,
    }
}

pub fn cmd(argv: &[&str]) -> CommandSpec {
    CommandSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), "/work".into()),
        ],
        cwd: "/work".into(),
        stdio: StdioMode::Pipes,
        cpu_time: None,
        file_size: 64 * MIB,
        extra_pipes: Vec::new(),
    }
}

pub fn sh(script: &str) -> CommandSpec {
    cmd(&["/bin/bash", "-c", script])
}

/// Output of a finished command.
pub struct Ran {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
}

/// Reads stdout and stderr to the end (up to a bound) while waiting.
pub async fn collect(mut process: Process, deadline: Duration) -> Ran {
    drop(process.stdin.take());
    let mut stdout = process.stdout.take().expect("pipes mode");
    let mut stderr = process.stderr.take().expect("pipes mode");
    let read_out = async move {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(16 * MIB).read_to_end(&mut buf).await;
        buf
    };
    let read_err = async move {
        let mut buf = Vec::new();
        let _ = (&mut stderr).take(16 * MIB).read_to_end(&mut buf).await;
        buf
    };
    let deadline = tokio::time::Instant::now() + deadline;
    let wait = process.wait(Some(deadline));
    let (outcome, out, err) = tokio::join!(
        wait,
        async {
            tokio::time::timeout_at(deadline + Duration::from_secs(2), read_out)
                .await
                .unwrap_or_default()
        },
        async {
            tokio::time::timeout_at(deadline + Duration::from_secs(2), read_err)
                .await
                .unwrap_or_default()
        }
    );
    Ran {
        outcome: outcome.expect("wait"),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// Runs one command in `sandbox`.
pub async fn run(sandbox: &Sandbox, command: &CommandSpec, deadline: Duration) -> Ran {
    let process = sandbox.start(command).await.expect("start");
    collect(process, deadline).await
}

/// Runs a bash script in `sandbox` with a 10 s deadline.
pub async fn bash(sandbox: &Sandbox, script: &str) -> Ran {
    run(sandbox, &sh(script), Duration::from_secs(10)).await
}

/// Asserts the spawner still works: a fresh sandbox runs a normal command.
pub async fn assert_healthy(spawner: &Spawner) {
    let sandbox = spawner
        .create(&spec())
        .await
        .expect("create after a hostile run");
    let ran = bash(&sandbox, "echo healthy").await;
    assert_eq!(
        ran.stdout, "healthy\n",
        "normal run after a hostile one: {:?}",
        ran.outcome
    );
    sandbox.destroy().await.expect("destroy");
}

/// Runs a Python snippet with the system interpreter (`python3` on PATH is a pyenv shim).
pub fn py(code: &str) -> CommandSpec {
    cmd(&["/usr/bin/python3", "-I", "-S", "-c", code])
}

/// Host processes whose command line contains `marker`.
pub fn host_processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(marker) {
                found.push(pid);
            }
        }
    }
    found
}
