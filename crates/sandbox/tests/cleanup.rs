//! Nothing leaks: after destroy and `Spawner::shutdown`, no sandbox process, cgroup directory
//! or mount is left behind; a crashed server's spawner cleans up by itself.
mod common;

use std::time::Duration;

use common::*;

fn mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .count()
}

/// Every `runnel/<instance>` cgroup directory on the host.
/// Instance dirs are named `<spawner pid>-<nonce>`. A `runnel serve` running elsewhere on this
/// machine (a developer's server) is not this test's business: only spawners started from this
/// crate's `runnel-spawner` binary, or dead ones, count.
fn owned_by_another_live_server(instance: &str) -> bool {
    let Some(pid) = instance.split('-').next() else {
        return false;
    };
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => !String::from_utf8_lossy(&cmdline).contains(TEST_SPAWNER),
        Err(_) => false,
    }
}

/// The command line of the spawners this crate's tests start.
const TEST_SPAWNER: &str = "runnel-spawner";

fn runnel_cgroups() -> Vec<String> {
    let mut found = Vec::new();
    let mut roots = vec![
        "/sys/fs/cgroup/pids/runnel".to_string(),
        "/sys/fs/cgroup/cpu/runnel".to_string(),
        "/sys/fs/cgroup/unified/runnel".to_string(),
    ];
    if let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") {
        if let Some(path) = own.lines().find_map(|l| {
            l.split_once(":memory:")
                .map(|(_, p)| p.trim_end_matches('/').to_string())
        }) {
            roots.push(format!("/sys/fs/cgroup/memory{path}/runnel"));
        }
    }
    for root in roots {
        if let Ok(entries) = std::fs::read_dir(&root) {
            found.extend(
                entries
                    .flatten()
                    .filter(|e| e.path().is_dir())
                    .filter(|e| !owned_by_another_live_server(&e.file_name().to_string_lossy()))
                    .map(|e| e.path().display().to_string()),
            );
        }
    }
    found
}

// One test per binary process here: parallel spawners would see each other's directories.
#[tokio::test]
async fn nothing_leaks() {
    let mounts_before = mounts();
    let marker = "4343.4344";

    // 1. Normal life cycle, with orphans and a live PTY shell at shutdown.
    let spawner = spawner().await;
    let mut sandboxes = Vec::new();
    for _ in 0..3 {
        let sandbox = spawner.create(&spec()).await.expect("create");
        let ran = bash(
            &sandbox,
            &format!("setsid sleep {marker} >/dev/null 2>&1 & echo ok"),
        )
        .await;
        assert_eq!(ran.stdout, "ok\n");
        sandboxes.push(sandbox);
    }
    let destroyed = sandboxes.pop().expect("one");
    destroyed.destroy().await.expect("destroy");
    let dropped = sandboxes.pop().expect("one");
    drop(dropped);
    assert!(!runnel_cgroups().is_empty());
    spawner.shutdown().await;
    drop(sandboxes);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        host_processes_with(marker).is_empty(),
        "sandbox processes left: {:?}",
        host_processes_with(marker)
    );
    assert!(
        host_processes_with(TEST_SPAWNER).is_empty(),
        "spawner left running"
    );
    assert_eq!(runnel_cgroups(), Vec::<String>::new(), "cgroups left");
    assert_eq!(mounts(), mounts_before, "mounts left in the host namespace");

    // 2. The server crashes: a child process (this test binary, in `crash_child` mode) starts
    // a spawner and a sandbox with an orphan, then exits without any cleanup. The spawner
    // must notice, kill its sandboxes and remove its cgroups by itself.
    let output = std::process::Command::new(std::env::current_exe().expect("test exe"))
        .args(["--exact", "crash_child", "--nocapture"])
        .env("RUNNEL_TEST_CRASH_CHILD", "1")
        .output()
        .expect("run crash child");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("CRASHING"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (!host_processes_with(TEST_SPAWNER).is_empty() || !runnel_cgroups().is_empty())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        host_processes_with(marker).is_empty(),
        "sandbox processes left after server loss"
    );
    assert!(
        host_processes_with(TEST_SPAWNER).is_empty(),
        "spawner left running after server loss"
    );
    assert_eq!(
        runnel_cgroups(),
        Vec::<String>::new(),
        "cgroups left after server loss"
    );
}

/// Helper for `nothing_leaks` (does nothing unless run by it): leaves a sandbox running and
/// exits the process abruptly, as a crashing server would.
#[tokio::test]
async fn crash_child() {
    if !std::env::vars_os().any(|(k, _)| k == "RUNNEL_TEST_CRASH_CHILD") {
        return;
    }
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    bash(&sandbox, "setsid sleep 4343.4344 >/dev/null 2>&1 &").await;
    // The backgrounded child may not have exec'd `sleep` yet when bash returns.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while host_processes_with("4343.4344").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphan never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!("CRASHING");
    std::process::exit(0);
}
