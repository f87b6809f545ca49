//! End-to-end: hostile programs through the whole server, which stays healthy, and a clean
//! host after it stops (no process, cgroup or temp dir left behind).

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

async fn healthy(server: &Server) {
    let mut socket = connect(server).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": "print('still here')"}),
    )
    .await;
    assert_eq!(result["stdout"], "still here\n", "{result}");
}

/// Pids of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the command's closing parenthesis.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        if after
            .split_whitespace()
            .nth(1)
            .and_then(|field| field.parse::<u32>().ok())
            == Some(parent)
        {
            children.push(pid);
        }
    }
    children
}

fn processes_matching(needle: &str) -> Vec<String> {
    let output = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("ps");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(needle) && !line.contains("ps -eo"))
        .map(str::to_owned)
        .collect()
}

fn cgroup_dirs_named(prefix: &str) -> Vec<String> {
    let output = Command::new("find")
        .args(["/sys/fs/cgroup", "-maxdepth", "8", "-type", "d", "-name"])
        .arg(format!("{prefix}*"))
        .output()
        .expect("find");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_programs_are_contained_and_nothing_leaks() {
    let server = Server::start(&["--pool-size", "1"]);
    let spawners: Vec<u32> = children_of(server.pid());
    assert!(!spawners.is_empty(), "the server runs a spawner process");
    let mut socket = connect(&server).await;

    // A bash fork bomb and a Python fork loop end inside their limits. (The classic bomb's
    // first shell returns at once; it stays a moment so that the bomb meets the pids limit
    // while the run is still on, however loaded the machine.)
    for (language, code) in [
        ("bash", ":(){ :|:& };:; sleep 1"),
        (
            "python",
            "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass",
        ),
    ] {
        let result = run_once(
            &mut socket,
            json!({"action": "execute", "language": language, "code": code, "limits": {"wall_ms": 3000, "pids": 32}}),
        )
        .await;
        assert_ne!(result["status"], "ok", "{language} fork bomb: {result}");
        assert_ne!(
            result["status"], "internal_error",
            "{language} fork bomb: {result}"
        );
        healthy(&server).await;
    }

    // The server's data dir, home dirs and environment are not visible.
    std::fs::write(server.data_dir.path().join("secret.txt"), "host secret").expect("plant");
    let probe = format!(
        r#"import os, socket
seen = []
for path in ["{data}/secret.txt", "/root", "/home", "/etc/shadow"]:
    if os.path.exists(path): seen.append(path)
print("seen:", seen)
print("env:", sorted(k for k in os.environ if k.startswith("RUNNEL") or k.startswith("CARGO")))
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", {port}))
    print("reached the server")
except OSError as error:
    print("blocked", type(error).__name__)
try:
    socket.create_connection(("1.1.1.1", 80), timeout=2)
    print("reached the internet")
except OSError as error:
    print("blocked", type(error).__name__)
"#,
        data = server.data_dir.path().display(),
        port = server.address.port(),
    );
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": probe}),
    )
    .await;
    let stdout = result["stdout"].as_str().expect("stdout");
    assert!(stdout.contains("seen: []"), "{result}");
    assert!(stdout.contains("env: []"), "{result}");
    assert!(!stdout.contains("reached"), "{result}");
    assert_eq!(stdout.matches("blocked").count(), 2, "{result}");

    // Orphans left running after the main process exits die with the sandbox.
    let marker = format!("{}.{}", 4000 + std::process::id() % 1000, 25);
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "bash", "code": format!("(sleep {marker} &) ; nohup sleep {marker} >/dev/null 2>&1 & echo left")}),
    )
    .await;
    assert_eq!(result["stdout"], "left\n", "{result}");
    assert!(
        processes_matching(&format!("sleep {marker}")).is_empty(),
        "orphans survived"
    );

    // Writes to system dirs fail; disk fill stops at the tmpfs size.
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "bash", "code": "touch /usr/x 2>&1; touch /etc/x 2>&1; head -c 500000000 /dev/zero 2>&1 >/work/fill; echo done"}),
    )
    .await;
    let stdout = result["stdout"].as_str().expect("stdout");
    assert!(
        stdout.matches("Read-only file system").count() >= 2,
        "{result}"
    );
    assert!(
        stdout.contains("No space left") || result["status"] == "memory_limit",
        "{result}"
    );
    healthy(&server).await;

    // Stop the server: the spawner, every sandbox and every cgroup go with it.
    drop(socket);
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    for spawner in spawners {
        assert!(
            !std::path::Path::new(&format!("/proc/{spawner}")).exists(),
            "spawner {spawner} still alive after the server stopped"
        );
        let left = cgroup_dirs_named(&format!("{spawner}-"));
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
}
