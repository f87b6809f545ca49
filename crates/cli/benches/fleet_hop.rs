//! What the bus costs: `cargo bench -p runnel-cli --bench fleet_hop` starts a real
//! `nats-server` (with its monitoring port) and a real `runnel node` on it, and an engine of
//! its own in this process, then times the same requests both ways, one after the other
//! (so that the machine's noise falls on both alike): a trivial request (`health`), a Python
//! one-shot run from request to `exit`, and a session execute from request to `exit`.
//! It prints p50/p95/p99 of each, the bus's ratio to the in-process engine, and the messages
//! and bytes one run puts on the bus (from the server's `/varz`).
//!
//! `RUNNEL_BENCH_N` samples per scenario (default 200) after 10 not counted.
#![allow(clippy::disallowed_methods, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use runnel_engine::api::{Event, Follow, LogId, Reply, Request, Service, SessionOp};
use runnel_engine::{
    CreateSession, Engine, EngineConfig, Limits, RunEvent, RunRequest, SessionEventKind,
    SessionRun, SourceFile,
};
use runnel_fleet::{BusOptions, Fleet, FleetOptions, Subjects};

const RUNNEL: &str = env!("CARGO_BIN_EXE_runnel");
const OWNER: &str = "bench";
const WARMUP: usize = 10;

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawn `command` and wait for the first line (of stdout or stderr, as `from_stderr`)
/// for which `pick` gives a value.
fn spawn_until(
    mut command: Command,
    from_stderr: bool,
    pick: impl Fn(&str) -> Option<String> + Send + 'static,
) -> (Process, Vec<String>) {
    if from_stderr {
        command.stderr(Stdio::piped()).stdout(Stdio::null());
    } else {
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    }
    let mut child = command.stdin(Stdio::piped()).spawn().expect("spawn");
    let (sender, receiver) = mpsc::channel();
    let lines: Box<dyn std::io::Read + Send> = if from_stderr {
        Box::new(child.stderr.take().expect("stderr"))
    } else {
        Box::new(child.stdout.take().expect("stdout"))
    };
    std::thread::spawn(move || {
        for line in BufReader::new(lines).lines().map_while(Result::ok) {
            if let Some(value) = pick(&line) {
                let _ = sender.send(value);
            }
        }
    });
    let mut found = Vec::new();
    while let Ok(value) = receiver.recv_timeout(Duration::from_secs(120)) {
        found.push(value);
        if found.len() == 2 || !from_stderr {
            break;
        }
    }
    (Process(child), found)
}

fn python_run(id: &str) -> RunRequest {
    RunRequest {
        id: id.to_owned(),
        owner: OWNER.to_owned(),
        language: "python".to_owned(),
        files: vec![SourceFile {
            name: String::new(),
            contents: b"print('hi')".to_vec(),
        }],
        stdin: None,
        close_stdin: true,
        args: Vec::new(),
        compiler_args: Vec::new(),
        limits: Limits::DEFAULT,
        replay_bytes: 0,
    }
}

fn execute(session: &str, id: &str) -> Request {
    Request::Session {
        owner: OWNER.into(),
        session: session.into(),
        op: SessionOp::Execute(SessionRun {
            id: id.into(),
            files: vec![SourceFile {
                name: String::new(),
                contents: b"x = 1".to_vec(),
            }],
            stdin: None,
            args: Vec::new(),
            limits: Limits::DEFAULT,
        }),
    }
}

fn is_end(event: &Event, run: &str) -> bool {
    match event {
        Event::Run(entry) => matches!(entry.kind, RunEvent::Exit(_)),
        Event::Session(entry) => {
            matches!(&entry.kind, SessionEventKind::Exit { run: r, .. } if r == run)
        }
    }
}

/// The engine in this process, or the node across the bus.
enum Side {
    Local(Service),
    Bus(Fleet, String),
}

impl Side {
    async fn call(&self, request: &Request) -> Reply {
        match self {
            Side::Local(service) => service.call(request.clone()).await,
            Side::Bus(fleet, node) => fleet.call(node, request).await,
        }
        .expect("the request succeeds")
    }

    /// Follow `log` from `after` until the end of run `run`; the last `seq`.
    async fn follow_to_end(&self, log: LogId, after: u64, run: &str) -> u64 {
        let follow = Follow {
            owner: OWNER.into(),
            log,
            after,
        };
        match self {
            Side::Local(service) => {
                let mut follower = service.follow(&follow).expect("follow");
                loop {
                    let batch = follower.next_batch().await.expect("events").expect("ok");
                    let last = batch.last().map(Event::seq).unwrap_or(after);
                    follower.taken(last);
                    if batch.iter().any(|event| is_end(event, run)) {
                        return last;
                    }
                }
            }
            Side::Bus(fleet, node) => {
                let mut follower = fleet.follow(node, follow).await.expect("follow");
                loop {
                    let batch = follower.next_batch().await.expect("events").expect("ok");
                    let last = batch.last().map(Event::seq).unwrap_or(after);
                    follower.taken(last).await;
                    if batch.iter().any(|event| is_end(event, run)) {
                        return last;
                    }
                }
            }
        }
    }
}

fn percentiles(mut samples: Vec<Duration>) -> [Duration; 3] {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    [at(0.50), at(0.95), at(0.99)]
}

fn report(name: &str, local: Vec<Duration>, bus: Vec<Duration>) {
    let (l, b) = (percentiles(local), percentiles(bus));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<18} in-process p50/p95/p99 {:>8.3} {:>8.3} {:>8.3} ms | over the bus {:>8.3} {:>8.3} {:>8.3} ms | hop adds p50 {:.3} ms ({:.2}x)",
        ms(l[0]), ms(l[1]), ms(l[2]), ms(b[0]), ms(b[1]), ms(b[2]),
        ms(b[0]) - ms(l[0]), ms(b[0]) / ms(l[0]),
    );
}

async fn varz(monitor: &str) -> (u64, u64) {
    let body: serde_json::Value = reqwest::get(format!("http://{monitor}/varz"))
        .await
        .expect("varz")
        .json()
        .await
        .expect("varz json");
    (
        body["in_msgs"].as_u64().unwrap_or_default(),
        body["in_bytes"].as_u64().unwrap_or_default(),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("RUNNEL_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let mut nats = Command::new("/usr/sbin/nats-server");
    nats.args(["-a", "127.0.0.1", "-p", "-1", "-m", "-1"]);
    let (_nats, found) = spawn_until(nats, true, |line| {
        let address = |(_, a): (&str, &str)| a.trim().trim_start_matches("http://").to_owned();
        line.split_once("Starting http monitor on ")
            .map(|found| format!("monitor {}", address(found)))
            .or_else(|| {
                line.split_once("Listening for client connections on ")
                    .map(|found| format!("client {}", address(found)))
            })
    });
    let announced = |what: &str| {
        found
            .iter()
            .find_map(|line| line.strip_prefix(what))
            .unwrap_or_else(|| panic!("nats-server announced no {what}address: {found:?}"))
            .to_owned()
    };
    let (monitor, url) = (
        announced("monitor "),
        format!("nats://{}", announced("client ")),
    );
    let node_dir = tempfile::tempdir().expect("tempdir");
    let mut node = Command::new(RUNNEL);
    node.args([
        "node",
        "--nats",
        &url,
        "--node-id",
        "bench",
        "--stop-on-stdin-close",
    ])
    .arg("--data-dir")
    .arg(node_dir.path())
    .env("RUNNEL_LOG", "warn");
    let (_node, _) = spawn_until(node, false, |line| {
        line.starts_with("runnel node ").then(|| line.to_owned())
    });

    let local_dir = tempfile::tempdir().expect("tempdir");
    let host = runnel_languages::HostDirs {
        home: std::env::home_dir(),
        scratch: std::env::temp_dir(),
    };
    let registry = runnel_languages::Registry::embedded(&host)
        .expect("registry")
        .detect(&host);
    let spawner = runnel_sandbox::Spawner::start(runnel_sandbox::HostConfig {
        spawner_exe: RUNNEL.into(),
        unconfined: false,
    })
    .await
    .expect("spawner");
    let engine = Engine::start(
        EngineConfig::with_data_dir(local_dir.path()),
        registry,
        spawner,
    )
    .await
    .expect("engine");
    let local = Side::Local(Service::new(engine.clone()));

    let client = runnel_fleet::connect(&BusOptions {
        url: url.clone(),
        credentials: None,
        nkey_seed: None,
        subjects: Subjects::default(),
        name: "bench".into(),
    })
    .await
    .expect("connect");
    let fleet = Fleet::join(client, Subjects::default(), FleetOptions::default())
        .await
        .expect("join");
    fleet.wait_for(|nodes| !nodes.is_empty()).await;
    let bus = Side::Bus(fleet, "bench".into());
    println!("fleet_hop: {n} samples per scenario, alternating in-process and bus");

    // health
    let (mut l, mut b) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + n {
        for (side, samples) in [(&local, &mut l), (&bus, &mut b)] {
            let started = Instant::now();
            side.call(&Request::Health).await;
            if i >= WARMUP {
                samples.push(started.elapsed());
            }
        }
    }
    report("health", l, b);

    // one-shot run, request to exit
    let (mut l, mut b) = (Vec::new(), Vec::new());
    let mut bus_traffic = (0, 0);
    for i in 0..WARMUP + n {
        for (which, side) in [(0, &local), (1, &bus)] {
            let id = format!("run-{which}-{i}");
            let before = if which == 1 {
                varz(&monitor).await
            } else {
                (0, 0)
            };
            let started = Instant::now();
            side.call(&Request::Run(python_run(&id))).await;
            side.follow_to_end(LogId::Run(id.clone()), 0, &id).await;
            let took = started.elapsed();
            if which == 1 {
                let after = varz(&monitor).await;
                if i >= WARMUP {
                    bus_traffic.0 += after.0 - before.0;
                    bus_traffic.1 += after.1 - before.1;
                }
            }
            side.call(&Request::Forget {
                owner: OWNER.into(),
                run: id,
            })
            .await;
            if i >= WARMUP {
                if which == 0 {
                    l.push(took)
                } else {
                    b.push(took)
                }
            }
        }
    }
    report("python run", l, b);
    println!(
        "{:<18} {:.1} messages and {:.0} bytes on the bus per run (request, reply, stream open, frames, acks; /varz in_msgs, in_bytes)",
        "bus per run",
        bus_traffic.0 as f64 / n as f64,
        bus_traffic.1 as f64 / n as f64
    );

    // session execute, request to exit
    let create = Request::CreateSession {
        owner: OWNER.into(),
        max_sessions: 0,
        request: CreateSession {
            language: "python".into(),
            limits: Limits::DEFAULT,
            idle_timeout: None,
        },
    };
    let mut sessions = Vec::new();
    for side in [&local, &bus] {
        let Reply::Session(info) = side.call(&create).await else {
            panic!("a session")
        };
        sessions.push((info.id, 0_u64));
    }
    let (mut l, mut b) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + n {
        for (which, side) in [(0, &local), (1, &bus)] {
            let id = format!("cell-{i}");
            let (session, seq) = sessions[which].clone();
            let started = Instant::now();
            side.call(&execute(&session, &id)).await;
            let last = side
                .follow_to_end(LogId::Session(session.clone()), seq, &id)
                .await;
            let took = started.elapsed();
            sessions[which].1 = last;
            if i >= WARMUP {
                if which == 0 {
                    l.push(took)
                } else {
                    b.push(took)
                }
            }
        }
    }
    report("session execute", l, b);
    engine.shutdown().await;
}
