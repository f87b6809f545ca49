//! Spawn latency: a bare `python3 -I -S -c 'print("hi")'` against the same command in a fresh
//! sandbox (create + start + wait + destroy) and in a pre-created one (start + wait; the
//! sandbox is made before the clock starts, as a warm pool would).
//!
//! Variants are interleaved per iteration, so machine noise hits all of them alike.
//! `RUNNEL_BENCH_N` sets the iterations (default 200). Run as root:
//! `cargo bench -p runnel-sandbox --bench spawn`.

use std::time::{Duration, Instant};

use runnel_sandbox::{CommandSpec, HostConfig, SandboxSpec, Spawner, StdioMode};
use tokio::io::AsyncReadExt;

const PYTHON: &str = "/usr/bin/python3";
const MIB: u64 = 1024 * 1024;

fn argv() -> Vec<String> {
    [PYTHON, "-I", "-S", "-c", "print(\"hi\")"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn iterations() -> usize {
    std::env::vars_os()
        .find(|(k, _)| k == "RUNNEL_BENCH_N")
        .and_then(|(_, v)| v.to_str().and_then(|v| v.parse().ok()))
        .unwrap_or(200)
}

async fn bare() -> Duration {
    let start = Instant::now();
    let out = tokio::process::Command::new(PYTHON)
        .args(&argv()[1..])
        .output()
        .await
        .expect("bare python");
    let elapsed = start.elapsed();
    assert_eq!(out.stdout, b"hi\n");
    elapsed
}

async fn run_in(sandbox: &runnel_sandbox::Sandbox, command: &CommandSpec) {
    let mut process = sandbox.start(command).await.expect("start");
    let mut stdout = process.stdout.take().expect("stdout");
    let mut out = Vec::new();
    stdout.read_to_end(&mut out).await.expect("read");
    let outcome = process.wait(None).await.expect("wait");
    assert_eq!(out, b"hi\n", "{outcome:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let n = iterations();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let config = HostConfig {
            spawner_exe: env!("CARGO_BIN_EXE_runnel-spawner").into(),
            unconfined: false,
        };
        let spawner = Spawner::start(config).await.expect("spawner (run as root)");
        let spec = SandboxSpec {
            binds: Vec::new(),
            memory_bytes: 256 * MIB,
            pids: 64,
            cpus: None,
            work_bytes: 64 * MIB,
            tmp_bytes: 64 * MIB,
        };
        let command = CommandSpec {
            argv: argv(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            cwd: "/work".into(),
            stdio: StdioMode::Pipes,
            cpu_time: None,
            file_size: 0,
            extra_pipes: Vec::new(),
        };
        // Warm-up: page cache, first cgroup creation.
        for _ in 0..5 {
            bare().await;
            let sandbox = spawner.create(&spec).await.expect("create");
            run_in(&sandbox, &command).await;
            sandbox.destroy().await.expect("destroy");
        }
        let (mut t_bare, mut t_fresh, mut t_warm, mut t_create) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..n {
            t_bare.push(bare().await);

            let start = Instant::now();
            let sandbox = spawner.create(&spec).await.expect("create");
            let created = start.elapsed();
            run_in(&sandbox, &command).await;
            sandbox.destroy().await.expect("destroy");
            t_fresh.push(start.elapsed());
            t_create.push(created);

            let sandbox = spawner.create(&spec).await.expect("create");
            let start = Instant::now();
            run_in(&sandbox, &command).await;
            t_warm.push(start.elapsed());
            sandbox.destroy().await.expect("destroy");
        }
        spawner.shutdown().await;

        for times in [&mut t_bare, &mut t_fresh, &mut t_warm, &mut t_create] {
            times.sort();
        }
        let bare_p50 = percentile(&t_bare, 0.5);
        println!(
            "n = {n}, {} cpus, python: {PYTHON} -I -S -c 'print(\"hi\")'",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0)
        );
        println!(
            "{:<44} {:>8} {:>8} {:>8} {:>9}",
            "variant", "p50 ms", "p95 ms", "p99 ms", "p50/bare"
        );
        for (name, times) in [
            ("bare spawn", &t_bare),
            ("fresh sandbox (create+start+wait+destroy)", &t_fresh),
            ("pre-created sandbox (start+wait)", &t_warm),
            ("  of which create() alone", &t_create),
        ] {
            let p50 = percentile(times, 0.5);
            println!(
                "{name:<44} {:>8.2} {:>8.2} {:>8.2} {:>8.2}x",
                ms(p50),
                ms(percentile(times, 0.95)),
                ms(percentile(times, 0.99)),
                ms(p50) / ms(bare_p50)
            );
        }
    });
}
