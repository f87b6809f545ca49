//! A full data dir (issue 11, item 3): runs keep working; the run history waits in memory and
//! is written once there is room again; compile cache writes fail visibly; `/healthz` and
//! `/metrics` say so; `runnel keys create` names the full disk and the stored keys stay
//! intact. And retention (`--history-days`) deletes old history.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{execute_http, healthz_until, metrics_text, Server, PATIENCE, RUNNEL};
use serde_json::{json, Value};

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "runnel-test",
            ])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs failed: these tests need root (CI runs as root) and mount(8)"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `dir` with one file; its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create filler");
    let block = vec![0_u8; 1 << 16];
    loop {
        if let Err(error) = file.write_all(&block).and_then(|()| file.sync_data()) {
            assert_eq!(error.raw_os_error(), Some(28), "filling: {error}");
            break;
        }
    }
    // Whatever a small write could still take.
    while file
        .write_all(&[0_u8; 512])
        .and_then(|()| file.sync_data())
        .is_ok()
    {}
    path
}

/// Rows in the run history, read with the sqlite3 shell.
fn history_rows(data: &Path) -> u64 {
    let output = Command::new("/usr/bin/sqlite3")
        .arg(data.join("runnel.db"))
        .arg("SELECT COUNT(*) FROM runs")
        .output()
        .expect("run /usr/bin/sqlite3 (Debian's sqlite3)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a count")
}

async fn wait_for_rows(data: &Path, rows: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while history_rows(data) != rows {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run history never held {rows} runs (it holds {})",
            history_rows(data)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

async fn run(server: &Server, language: &str, code: &str) -> Value {
    let result = execute_http(
        server,
        &server.key,
        json!({"language": language, "code": code}),
    )
    .await;
    assert_eq!(result["status"], "ok", "{result}");
    result
}

const C_PROGRAM: &str = "#include <stdio.h>\nint main(void) { puts(\"full\"); return 0; }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_dir_is_reported_loses_no_history_and_keeps_keys_safe() {
    let disk = Tmpfs::mount("48m");
    let server = Server::start_in(disk.path(), &[]);
    run(&server, "python", "print(1)").await;
    wait_for_rows(disk.path(), 1).await;

    let filler = fill(disk.path());
    run(&server, "python", "print(2)").await;
    let compiled = run(&server, "c", C_PROGRAM).await;
    assert_eq!(compiled["stdout"], "full\n");

    let health = healthz_until(
        &server,
        "the history and the cache degraded",
        |status, body| {
            let components: Vec<&str> = body["problems"]
                .as_array()
                .map(|problems| {
                    problems
                        .iter()
                        .filter_map(|p| p["component"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            status == 200
                && body["status"] == "degraded"
                && components.contains(&"history")
                && components.contains(&"cache")
        },
    )
    .await;
    let history = health["problems"]
        .as_array()
        .and_then(|problems| problems.iter().find(|p| p["component"] == "history"))
        .expect("history problem");
    assert!(
        history["detail"]
            .as_str()
            .is_some_and(|d| d.contains("is full")),
        "{health}"
    );
    let metrics = metrics_text(&server).await;
    assert!(
        metric(&metrics, "runnel_history_unwritten") >= 2.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "runnel_history_write_errors_total") >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "runnel_compile_cache_write_errors_total") >= 1.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "runnel_history_dropped_total"),
        0.0,
        "{metrics}"
    );

    // A new key cannot be made, and the error says why; the stored keys still work.
    let created = Command::new(RUNNEL)
        .args(["keys", "create", "--data-dir"])
        .arg(disk.path())
        .env("RUNNEL_LOG", "warn")
        .output()
        .expect("runnel keys create");
    assert!(!created.status.success(), "{created:?}");
    let said = String::from_utf8_lossy(&created.stderr);
    assert!(said.contains("is full"), "{said}");
    run(&server, "python", "print(3)").await;

    // Room again: everything that waited is written, and a compile is cached again.
    std::fs::remove_file(filler).expect("remove filler");
    wait_for_rows(disk.path(), 4).await;
    run(&server, "c", C_PROGRAM).await;
    healthz_until(&server, "ready again", |status, body| {
        status == 200 && body["status"] == "ready"
    })
    .await;
    wait_for_rows(disk.path(), 5).await;
    let metrics = metrics_text(&server).await;
    assert_eq!(
        metric(&metrics, "runnel_history_unwritten"),
        0.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "runnel_history_dropped_total"),
        0.0,
        "{metrics}"
    );
    let key = server.create_key(&["--name", "after"]);
    assert!(key.starts_with("rk_"), "{key}");
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_older_than_the_retention_are_deleted() {
    let data = tempfile::tempdir().expect("tempdir");
    common::create_key(data.path(), &[]);
    // Two runs recorded long ago and one an hour ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let insert = format!(
        "INSERT INTO runs (key_id, run_id, language, status, wall_ms, cpu_ms, memory_bytes, \
         finished_at) VALUES ('k', 'old-1', 'python', 'ok', 1, 1, 1, 1000), \
         ('k', 'old-2', 'python', 'ok', 1, 1, 1, {}), ('k', 'recent', 'python', 'ok', 1, 1, 1, {})",
        now - 3 * 86_400,
        now - 3600
    );
    let inserted = Command::new("/usr/bin/sqlite3")
        .arg(data.path().join("runnel.db"))
        .arg(&insert)
        .output()
        .expect("sqlite3");
    assert!(inserted.status.success(), "{inserted:?}");
    assert_eq!(history_rows(data.path()), 3);

    let server = Server::start_in(data.path(), &["--history-days", "2"]);
    wait_for_rows(data.path(), 1).await;
    let metrics = metrics_text(&server).await;
    assert_eq!(
        metric(&metrics, "runnel_history_pruned_total"),
        2.0,
        "{metrics}"
    );
    assert!(server.stop().success());
}
