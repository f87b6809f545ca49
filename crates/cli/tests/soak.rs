//! A bounded soak (issue 11): rounds of mixed load at concurrency 8 (one-shot runs, streamed
//! runs dropped and resumed, timeouts, memory-limit hits, stdin, sessions, terminals) against
//! the real server. Once the load is over and the server has settled, its resident memory,
//! open descriptors, processes and cgroup directories are back where they were after the first
//! round: nothing leaks. Bounded by a count of operations, never by a duration.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use common::{
    children_of, connect, execute_http, metrics_text, recv, send, Server, Socket, PATIENCE,
};
use futures_util::StreamExt;
use serde_json::{json, Value};

/// Rounds of load; the first warms the server up and sets the baseline.
const ROUNDS: usize = 6;
/// Workers at once, each doing every kind of operation once per round.
const WORKERS: usize = 8;
/// How much the server's resident memory may exceed the baseline once settled.
const MEMORY_SLACK: u64 = 32 << 20;

fn resident(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count()
}

/// Every process under `pid`, recursively.
fn descendants(pid: u32) -> BTreeSet<u32> {
    let mut found = BTreeSet::new();
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for child in children_of(parent) {
            if found.insert(child) {
                queue.push(child);
            }
        }
    }
    found
}

/// The cgroup directories (recursively) of the spawner `spawner` (its instance directories
/// `<pid>-<nonce>` under this test's `runnel` cgroup parents).
fn cgroup_dirs(spawner: u32) -> usize {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
                    .map(|entry| 1 + count(&entry.path()))
                    .sum()
            })
            .unwrap_or(0)
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("cgroup");
    own.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let mount = if controllers.is_empty() {
                if std::path::Path::new("/sys/fs/cgroup/unified").exists() {
                    "/sys/fs/cgroup/unified".to_owned()
                } else {
                    "/sys/fs/cgroup".to_owned()
                }
            } else {
                format!("/sys/fs/cgroup/{}", controllers.split(',').next()?)
            };
            Some(PathBuf::from(format!("{mount}{path}/runnel")))
        })
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{spawner}-"))
        })
        .map(|entry| 1 + count(&entry.path()))
        .sum()
}

#[derive(Debug, Clone, PartialEq)]
struct Footprint {
    memory: u64,
    fds: usize,
    processes: usize,
    cgroups: usize,
}

fn footprint(server: &Server) -> Footprint {
    Footprint {
        memory: resident(server.pid()),
        fds: open_fds(server.pid()),
        processes: descendants(server.pid()).len(),
        cgroups: cgroup_dirs(common::spawner_pid(server).expect("the server's spawner")),
    }
}

fn gauge(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{series} ")))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until nothing runs, no session is open and both warm pools are full again.
async fn settle(server: &Server) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let metrics = metrics_text(server).await;
        let stats = common::stats(server).await;
        let settled = gauge(&metrics, "runnel_runs_in_flight") == 0.0
            && stats["sessions"] == 0
            && gauge(&metrics, "runnel_pool_ready{language=\"python\"}") == 2.0
            && gauge(&metrics, "runnel_pool_ready{language=\"javascript\"}") == 2.0;
        if settled {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never settled: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_exit(socket: &mut Socket, id: &str) -> Value {
    loop {
        let message = recv(socket).await;
        if message["id"] == id && (message["type"] == "exit" || message["type"] == "error") {
            return message;
        }
    }
}

/// One of everything, for worker `worker` in round `round`.
async fn one_round_of_work(server: &Server, round: usize, worker: usize) {
    let tag = format!("r{round}w{worker}");
    let key = &server.key;
    let result = execute_http(
        server,
        key,
        json!({"language": "python", "code": "print(6 * 7)"}),
    )
    .await;
    assert_eq!(result["stdout"], "42\n", "{tag}: {result}");
    let result = execute_http(
        server,
        key,
        json!({"language": "javascript", "code": "console.log('js')"}),
    )
    .await;
    assert_eq!(result["stdout"], "js\n", "{tag}: {result}");
    let result = execute_http(
        server,
        key,
        json!({"language": "python", "code": "import time\ntime.sleep(30)",
               "limits": {"wall_ms": 300}}),
    )
    .await;
    assert_eq!(result["status"], "timeout", "{tag}: {result}");
    let result = execute_http(
        server,
        key,
        json!({"language": "python", "code": "x = bytearray(400 << 20)\nprint(len(x))",
               "limits": {"memory_mb": 64}}),
    )
    .await;
    assert_eq!(result["status"], "memory_limit", "{tag}: {result}");
    let result = execute_http(
        server,
        key,
        json!({"language": "python", "code": "print(input()[::-1])", "stdin": "soak\n"}),
    )
    .await;
    assert_eq!(result["stdout"], "kaos\n", "{tag}: {result}");

    // A streamed run whose socket drops, resumed on another.
    let id = format!("stream-{tag}");
    let mut socket = connect(server).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": id, "language": "bash", "stream": true,
               "code": "echo one; read line; echo \"got $line\""}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "stdout" {
            break;
        }
    }
    drop(socket);
    let mut socket = connect(server).await;
    send(
        &mut socket,
        json!({"action": "resume", "id": id, "last_seq": 0}),
    )
    .await;
    send(
        &mut socket,
        json!({"action": "stdin", "id": id, "data": "back\n"}),
    )
    .await;
    let exit = until_exit(&mut socket, &id).await;
    assert_eq!(exit["status"], "ok", "{tag}: {exit}");

    // A session: two cells, a terminal, then closed.
    let session = common::create_session_http(server, key, "python").await;
    let cell = common::session_execute_http(server, key, &session, "n = 20").await;
    assert_eq!(cell["status"], "ok", "{tag}: {cell}");
    let cell = common::session_execute_http(server, key, &session, "print(n + 1)").await;
    assert_eq!(cell["stdout"], "21\n", "{tag}: {cell}");
    let mut terminal = common::connect_plain(&format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={key}",
        server.address
    ))
    .await;
    use base64::Engine as _;
    let chars = base64::engine::general_purpose::STANDARD.encode("echo soak-$((6*7))\n");
    send(&mut terminal, json!({"type": "stdin", "chars": chars})).await;
    let mut seen = String::new();
    while !seen.contains("soak-42") {
        let frame = tokio::time::timeout(PATIENCE, terminal.next())
            .await
            .expect("terminal output in time")
            .expect("terminal open")
            .expect("frame");
        if let Ok(text) = frame.to_text() {
            let message: Value = serde_json::from_str(text).expect("json");
            if let Some(data) = message["data"].as_str() {
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) {
                    seen.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
    }
    drop(terminal);
    let closed = reqwest::Client::new()
        .delete(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(key)
        .send()
        .await
        .expect("close session");
    assert!(closed.status().is_success(), "{tag}: {}", closed.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_load_leaves_no_memory_descriptors_processes_or_cgroups_behind() {
    let server = std::sync::Arc::new(Server::start(&[
        "--session-pool-size",
        "0",
        "--run-grace",
        "5",
    ]));
    let mut baseline = None;
    for round in 0..ROUNDS {
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                let server = std::sync::Arc::clone(&server);
                tokio::spawn(async move { one_round_of_work(&server, round, worker).await })
            })
            .collect();
        for worker in workers {
            worker.await.expect("a worker panicked");
        }
        settle(&server).await;
        if round == 0 {
            baseline = Some(footprint(&server));
        }
    }
    let baseline = baseline.expect("baseline");
    eprintln!("soak baseline after round 1: {baseline:?}");
    // Descriptors, processes and cgroups come back exactly (the pools hold as many as before);
    // wait for the last ones to go.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let last = loop {
        let now = footprint(&server);
        let back = now.fds <= baseline.fds
            && now.processes <= baseline.processes
            && now.cgroups <= baseline.cgroups;
        if back || tokio::time::Instant::now() >= deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        last.fds <= baseline.fds,
        "descriptors: {last:?} after, {baseline:?} at the baseline"
    );
    assert!(
        last.processes <= baseline.processes,
        "processes: {last:?} after, {baseline:?} at the baseline"
    );
    assert!(
        last.cgroups <= baseline.cgroups,
        "cgroups: {last:?} after, {baseline:?} at the baseline"
    );
    assert!(
        last.memory <= baseline.memory + MEMORY_SLACK,
        "resident memory grew from {} to {} MiB over {} rounds",
        baseline.memory >> 20,
        last.memory >> 20,
        ROUNDS - 1
    );
}
