//! The sandbox spawner dying under a running server (issue 11, item 1): the server starts a
//! new one and every later run and session works, `/healthz` tells the truth, `/metrics`
//! counts the restart, nothing of the dead spawner is left; a spawner that cannot be started
//! again stops the server with a non-zero exit; a warm pool whose refills keep failing shows
//! as degraded until they work again.

mod common;

use std::time::Duration;

use common::{
    connect, execute_http, healthz, healthz_until, metrics_text, recv, send, spawner_pid, Server,
    PATIENCE,
};
use serde_json::{json, Value};

fn kill_hard(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -9 {pid}");
}

/// The spawner's pid once one serves (within the patience).
async fn wait_for_spawner(server: &Server, other_than: Option<u32>) -> u32 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(pid) = spawner_pid(server).filter(|pid| Some(*pid) != other_than) {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no (new) spawner process under the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The cgroup directories of this test's own cgroup where the server's spawners put theirs
/// (`<controller path>/runnel`), for the controllers this host has.
fn runnel_cgroup_parents() -> Vec<std::path::PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let mut parents = Vec::new();
    for line in own.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        let mount = match controllers {
            "" if std::path::Path::new("/sys/fs/cgroup/unified").exists() => {
                "/sys/fs/cgroup/unified".to_owned()
            }
            "" => "/sys/fs/cgroup".to_owned(),
            list if list.split(',').any(|c| c == "memory") => "/sys/fs/cgroup/memory".to_owned(),
            list if list.split(',').any(|c| c == "pids") => "/sys/fs/cgroup/pids".to_owned(),
            _ => continue,
        };
        parents.push(std::path::PathBuf::from(format!("{mount}{path}/runnel")));
    }
    parents
}

/// Cgroup directories left by spawner `pid` (named `<pid>-<nonce>`).
fn cgroups_of_spawner(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("{pid}-");
    runnel_cgroup_parents()
        .into_iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect()
}

async fn python(server: &Server, code: &str) -> Value {
    execute_http(
        server,
        &server.key,
        json!({"language": "python", "code": code}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_spawner_is_replaced_and_every_later_run_and_session_works() {
    let server = Server::start(&["--session-pool-size", "1"]);
    let (status, health) = healthz(&server).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ready")),
        "{health}"
    );
    assert_eq!(health["spawner_restarts"], 0);
    let old = wait_for_spawner(&server, None).await;
    assert!(
        !cgroups_of_spawner(old).is_empty(),
        "the spawner's cgroups were not found under {:?}",
        runnel_cgroup_parents()
    );
    let session = common::create_session_http(&server, &server.key, "python").await;
    let cell = common::session_execute_http(&server, &server.key, &session, "x = 41").await;
    assert_eq!(cell["status"], "ok", "{cell}");
    // A socket that follows the session.
    let mut follower = common::follow_session(&server, &session).await;

    // A run in flight when the spawner dies.
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "inflight", "language": "python", "stream": true,
               "code": "import time\nprint('started', flush=True)\ntime.sleep(600)"}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "stdout" {
            break;
        }
    }

    kill_hard(old);

    // The run in flight ends with a named status, not silence.
    let exit = loop {
        let message = recv(&mut socket).await;
        if message["id"] == "inflight" && message["type"] == "exit" {
            break message;
        }
    };
    assert_ne!(exit["status"], "ok", "{exit}");
    assert!(exit["status"].is_string(), "{exit}");
    // The session that died with the spawner ends, and says why.
    loop {
        let message = recv(&mut follower).await;
        if message["type"] == "session" && message["session"] == session.as_str() {
            if message["event"] == "lost" {
                break;
            }
            assert_ne!(message["event"], "closed", "{message}");
        }
    }

    let health = healthz_until(&server, "ready after one restart", |status, body| {
        status == 200 && body["status"] == "ready" && body["spawner_restarts"] == 1
    })
    .await;
    assert_eq!(health["problems"], json!([]), "{health}");
    let new = wait_for_spawner(&server, Some(old)).await;
    assert_ne!(new, old);

    // Runs work again, from the refilled pool and beyond it.
    for n in 0..6 {
        let result = python(&server, &format!("print({n} * 7)")).await;
        assert_eq!(
            result["status"], "ok",
            "run {n} after the restart: {result}"
        );
        assert_eq!(result["stdout"], format!("{}\n", n * 7));
    }
    let node = execute_http(
        &server,
        &server.key,
        json!({"language": "javascript", "code": "console.log(6 * 7)"}),
    )
    .await;
    assert_eq!(node["stdout"], "42\n", "{node}");

    // A new session works; the one that died with the spawner ends instead of answering 500.
    let fresh = common::create_session_http(&server, &server.key, "python").await;
    let cell = common::session_execute_http(&server, &server.key, &fresh, "print(6 * 7)").await;
    assert_eq!(cell["stdout"], "42\n", "{cell}");
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = client
            .get(server.http_url(&format!("/api/v1/sessions/{session}")))
            .bearer_auth(&server.key)
            .send()
            .await
            .expect("get session");
        if response.status() == 404 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session that died with the spawner still answers {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let metrics = metrics_text(&server).await;
    assert!(
        metrics
            .lines()
            .any(|line| line == "runnel_spawner_restarts_total 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|line| line == "runnel_health{state=\"ready\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        cgroups_of_spawner(old),
        Vec::<std::path::PathBuf>::new(),
        "the dead spawner's cgroups are left"
    );
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawner_that_cannot_be_started_again_stops_the_server_with_a_non_zero_exit() {
    // A copy of the binary that goes away under the running server, as when a package upgrade
    // removes it: no new spawner can be started from it.
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = dir.path().join("runnel");
    std::fs::copy(common::RUNNEL, &binary).expect("copy the runnel binary");
    let server = Server::start_from(&binary, &[]);
    let pid = wait_for_spawner(&server, None).await;
    std::fs::remove_file(&binary).expect("remove the binary");
    kill_hard(pid);

    // While it tries, the server says so; runs wait for it or are refused by name.
    let health = healthz_until(&server, "the spawner restarting or down", |_, body| {
        body["status"] != "ready"
    })
    .await;
    assert_eq!(health["problems"][0]["component"], "spawner", "{health}");
    let status = server.wait_for_exit();
    assert!(!status.success(), "the server exited {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_whose_refills_keep_failing_is_degraded_until_they_work_again() {
    // A Python whose warm interpreter is started through a symlink that the test removes and
    // puts back (outside /tmp: a sandbox's /tmp is its own, so no bind may lie under it).
    let languages = tempfile::tempdir().expect("tempdir");
    let toolchain = tempfile::tempdir_in("/var/tmp").expect("tempdir in /var/tmp");
    let link = toolchain.path().join("python3");
    std::os::unix::fs::symlink("/usr/bin/python3", &link).expect("symlink");
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../languages/python/language.toml"
    ))
    .expect("read python/language.toml");
    let warm = "\nargv = [\"/usr/bin/python3\", \"{driver}\"]";
    assert!(
        spec.contains(warm),
        "python/language.toml's warm argv changed: {spec}"
    );
    let spec = spec
        .replacen(
            warm,
            &format!("\nargv = [\"{}\", \"{{driver}}\"]", link.display()),
            1,
        )
        .replacen(
            "min_pids = 1",
            &format!("min_pids = 1\nbinds = [\"{}\"]", toolchain.path().display()),
            1,
        );
    std::fs::write(languages.path().join("python.toml"), spec).expect("write python.toml");
    let server = Server::start(&[
        "--languages-dir",
        languages.path().to_str().expect("utf-8 path"),
        "--pool-languages",
        "python",
        "--session-pool-size",
        "0",
    ]);
    let (_, health) = healthz(&server).await;
    assert_eq!(health["status"], "ready", "{health}");

    std::fs::remove_file(&link).expect("remove the symlink");
    // Taking the pooled sandboxes makes the pool refill, which now fails; runs that find the
    // pool empty start cold and work.
    for _ in 0..3 {
        let result = python(&server, "print(1)").await;
        assert_eq!(result["stdout"], "1\n", "{result}");
    }
    let health = healthz_until(&server, "a degraded pool", |status, body| {
        status == 200 && body["status"] == "degraded"
    })
    .await;
    assert_eq!(health["problems"][0]["component"], "pool", "{health}");
    assert!(
        health["problems"][0]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("python")),
        "{health}"
    );
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.lines().any(|line| line
            .starts_with("runnel_pool_refill_failures_total{pool=\"runs\",language=\"python\"} ")),
        "{metrics}"
    );

    std::os::unix::fs::symlink("/usr/bin/python3", &link).expect("put the symlink back");
    healthz_until(&server, "ready again", |status, body| {
        status == 200 && body["status"] == "ready"
    })
    .await;
    let result = python(&server, "print(2)").await;
    assert_eq!(result["stdout"], "2\n", "{result}");
    assert!(server.stop().success());
}
