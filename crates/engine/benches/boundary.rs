//! The engine boundary's encoding (`runnel_engine::api::codec`, MessagePack) against JSON for
//! the messages a bus carries most: a small output chunk (one `print`), a 64 KiB chunk (a
//! program writing fast), and a run request with a 1 KiB source. Each iteration encodes and
//! decodes one message; the variants are interleaved, so machine noise hits them alike.
//! `RUNNEL_BENCH_N` sets the iterations (default 20000):
//! `cargo bench -p runnel-engine --bench boundary`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use runnel_engine::api::{codec, Event, Request};
use runnel_engine::log::Entry;
use runnel_engine::{Limits, RunEvent, RunRequest, SourceFile};
use runnel_protocol::{Stage, StreamName};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn iterations() -> usize {
    std::env::vars_os()
        .find(|(k, _)| k == "RUNNEL_BENCH_N")
        .and_then(|(_, v)| v.to_str().and_then(|v| v.parse().ok()))
        .unwrap_or(20_000)
}

fn output(len: usize) -> Event {
    Event::Run(Entry {
        seq: 42,
        kind: RunEvent::Output {
            stage: Stage::Run,
            stream: StreamName::Stdout,
            data: (0..len).map(|i| b'a' + (i % 26) as u8).collect(),
        },
    })
}

fn run_request() -> Request {
    Request::Run(RunRequest {
        id: "run-0001".into(),
        owner: "key-1".into(),
        language: "python".into(),
        files: vec![SourceFile {
            name: "main.py".into(),
            contents: "print('hello, world')\n".repeat(46).into_bytes(),
        }],
        stdin: Some(b"3\n1 2 3\n".to_vec()),
        close_stdin: true,
        args: vec!["--fast".into()],
        compiler_args: Vec::new(),
        limits: Limits::DEFAULT,
        replay_bytes: 1 << 20,
    })
}

fn msgpack<T: Serialize + DeserializeOwned>(message: &T) -> (Duration, usize) {
    let start = Instant::now();
    let bytes = codec::encode(message).expect("encodes");
    let back: T = codec::decode(&bytes).expect("decodes");
    black_box(back);
    (start.elapsed(), bytes.len())
}

fn json<T: Serialize + DeserializeOwned>(message: &T) -> (Duration, usize) {
    let start = Instant::now();
    let bytes = serde_json::to_vec(message).expect("encodes");
    let back: T = serde_json::from_slice(&bytes).expect("decodes");
    black_box(back);
    (start.elapsed(), bytes.len())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Figures {
    name: &'static str,
    times: Vec<Duration>,
    bytes: usize,
}

impl Figures {
    fn new(name: &'static str) -> Figures {
        Figures {
            name,
            times: Vec::new(),
            bytes: 0,
        }
    }

    fn add(&mut self, (time, bytes): (Duration, usize)) {
        self.times.push(time);
        self.bytes = bytes;
    }

    fn p50(&mut self) -> Duration {
        self.times.sort();
        percentile(&self.times, 0.5)
    }

    fn report(&mut self, against: Option<Duration>) {
        self.times.sort();
        let (p50, p95, p99) = (
            percentile(&self.times, 0.5),
            percentile(&self.times, 0.95),
            percentile(&self.times, 0.99),
        );
        let ratio = against
            .map(|json| {
                format!(
                    "  {:.3}x JSON's p50",
                    p50.as_secs_f64() / json.as_secs_f64()
                )
            })
            .unwrap_or_default();
        println!(
            "{:<28} {:>9} bytes  p50 {:>8.2} us  p95 {:>8.2} us  p99 {:>8.2} us{ratio}",
            self.name,
            self.bytes,
            p50.as_secs_f64() * 1e6,
            p95.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
        );
    }
}

fn main() {
    let n = iterations();
    let (small, large, request) = (output(20), output(64 * 1024), run_request());
    let mut figures = [
        Figures::new("output 20 B, msgpack"),
        Figures::new("output 20 B, json"),
        Figures::new("output 64 KiB, msgpack"),
        Figures::new("output 64 KiB, json"),
        Figures::new("run request 1 KiB, msgpack"),
        Figures::new("run request 1 KiB, json"),
    ];
    for _ in 0..n {
        figures[0].add(msgpack(&small));
        figures[1].add(json(&small));
        figures[2].add(msgpack(&large));
        figures[3].add(json(&large));
        figures[4].add(msgpack(&request));
        figures[5].add(json(&request));
    }
    println!("encode + decode of one message, {n} iterations each, interleaved");
    for pair in figures.chunks_mut(2) {
        let json_p50 = pair[1].p50();
        pair[0].report(Some(json_p50));
        pair[1].report(None);
    }
}
