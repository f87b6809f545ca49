//! `runnel bench`: the load and latency generator.
//!
//! The machines this runs on are noisy and have 2 cores, so figures are compared within one
//! run: variants are interleaved sample by sample (a one-shot run, then a bare spawn of the
//! same interpreter, then the other order), and the report gives their ratio.
//!
//! Scenarios ([`Scenario`]): `ping`, `oneshot`, `oneshot-stream`, `throughput`, `bare`,
//! `stdin-echo`, `session`. Latencies go into HDR histograms ([`stats`]); the report is a table and JSON
//! ([`report`]).

pub mod report;
mod scenarios;
mod session;
pub mod stats;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use report::{BenchRatio, BenchReport, BenchRow};
pub use stats::{LatencyStats, Samples};

use crate::connection::Client;
use crate::error::ClientError;
use crate::options::ClientOptions;

/// Default language.
pub const DEFAULT_LANGUAGE: &str = "python";
/// Default unmeasured iterations before each latency scenario.
pub const DEFAULT_WARMUP: usize = 20;
/// Default measured iterations of each latency scenario.
pub const DEFAULT_SAMPLES: usize = 200;
/// Default runs of the throughput scenario.
pub const DEFAULT_THROUGHPUT_RUNS: usize = 2000;
/// Default concurrent connections of the throughput scenario.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The bare baseline: Debian's interpreter (the `python3` on PATH may be a slow pyenv shim),
/// isolated (`-I`) and without `site` (`-S`), as the sandboxed runs start it.
pub const DEFAULT_BARE_COMMAND: [&str; 5] = ["/usr/bin/python3", "-I", "-S", "-c", "print(\"hi\")"];
/// Longest wait for any one operation before it counts as an error.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// WebSocket `ping` round trip.
    Ping,
    /// Sequential one-shot runs (`stream: false`) until the `result`.
    Oneshot,
    /// Sequential streamed runs: time to the first stdout chunk and to `exit`.
    OneshotStream,
    /// Many one-shot runs from concurrent connections: runs per second.
    Throughput,
    /// A bare local spawn of the interpreter until exit, interleaved with `oneshot`.
    Bare,
    /// A running program echoing stdin lines: one line's round trip.
    StdinEcho,
    /// Sessions: a new one from the pool, an execute in a warm one, an `input()` echoed.
    Session,
}

impl Scenario {
    /// Every scenario, in the order they run.
    pub const ALL: [Scenario; 7] = [
        Scenario::Ping,
        Scenario::Oneshot,
        Scenario::Bare,
        Scenario::OneshotStream,
        Scenario::StdinEcho,
        Scenario::Session,
        Scenario::Throughput,
    ];

    /// The scenario's name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Ping => "ping",
            Scenario::Oneshot => "oneshot",
            Scenario::OneshotStream => "oneshot-stream",
            Scenario::Throughput => "throughput",
            Scenario::Bare => "bare",
            Scenario::StdinEcho => "stdin-echo",
            Scenario::Session => "session",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A scenario name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bench scenario `{0}` (expected one of ping, oneshot, oneshot-stream, throughput, bare, stdin-echo, session)")]
pub struct UnknownScenario(pub String);

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(name: &str) -> Result<Scenario, UnknownScenario> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| {
                scenario.as_str() == name.trim().to_ascii_lowercase().replace('_', "-")
            })
            .ok_or_else(|| UnknownScenario(name.to_owned()))
    }
}

/// What `runnel bench` measures and against which server.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Server URL.
    pub url: String,
    /// API key.
    pub api_key: String,
    /// Language of the runs.
    pub language: String,
    /// Unmeasured iterations before each latency scenario.
    pub warmup: usize,
    /// Measured iterations of each latency scenario.
    pub n: usize,
    /// Runs of the throughput scenario.
    pub throughput_runs: usize,
    /// Concurrent connections of the throughput scenario.
    pub concurrency: usize,
    /// Scenarios to run; empty means all.
    pub scenarios: Vec<Scenario>,
    /// The bare baseline's command line (program and arguments).
    pub bare_command: Vec<String>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            url: String::new(),
            api_key: String::new(),
            language: DEFAULT_LANGUAGE.to_owned(),
            warmup: DEFAULT_WARMUP,
            n: DEFAULT_SAMPLES,
            throughput_runs: DEFAULT_THROUGHPUT_RUNS,
            concurrency: DEFAULT_CONCURRENCY,
            scenarios: Vec::new(),
            bare_command: DEFAULT_BARE_COMMAND
                .iter()
                .map(|&part| part.to_owned())
                .collect(),
        }
    }
}

impl BenchOptions {
    fn wants(&self, scenario: Scenario) -> bool {
        self.scenarios.is_empty() || self.scenarios.contains(&scenario)
    }
}

/// Runs the selected scenarios and reports. Fails only when the server cannot be reached at
/// all; a scenario that fails is listed in [`BenchReport::failures`].
pub async fn bench(options: BenchOptions) -> Result<BenchReport, ClientError> {
    let client =
        Client::connect_with(&options.url, &options.api_key, ClientOptions::SINGLE_SOCKET).await?;
    let mut report = BenchReport {
        url: client.url().to_owned(),
        language: options.language.clone(),
        machine: machine_description(),
        settings: format!(
            "n={} warmup={} throughput_runs={} concurrency={} bare=`{}`",
            options.n,
            options.warmup,
            options.throughput_runs,
            options.concurrency,
            options.bare_command.join(" ")
        ),
        ..BenchReport::default()
    };
    for scenario in Scenario::ALL
        .into_iter()
        .filter(|&scenario| options.wants(scenario))
    {
        let outcome = match scenario {
            Scenario::Ping => scenarios::ping(&client, &options, &mut report).await,
            // `bare` runs inside `oneshot` when both are selected, to interleave them.
            Scenario::Oneshot => scenarios::oneshot(&client, &options, &mut report).await,
            Scenario::Bare if options.wants(Scenario::Oneshot) => Ok(()),
            Scenario::Bare => scenarios::bare_alone(&options, &mut report).await,
            Scenario::OneshotStream => {
                scenarios::oneshot_stream(&client, &options, &mut report).await
            }
            Scenario::StdinEcho => scenarios::stdin_echo(&client, &options, &mut report).await,
            Scenario::Session => session::session(&options, &mut report).await,
            Scenario::Throughput => scenarios::throughput(&options, &mut report).await,
        };
        if let Err(error) = outcome {
            tracing::warn!(scenario = scenario.as_str(), error = %error, "bench scenario failed");
            report
                .failures
                .push(format!("{scenario}: {}", error_chain(&error)));
        }
    }
    client.close().await;
    Ok(report)
}

/// An error and its sources, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// CPU model, logical CPUs and kernel release, from `/proc`.
pub fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".to_owned());
    let cores = std::thread::available_parallelism()
        .map(|count| count.get().to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| release.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("{cpu}, {cores} cpus, linux {kernel}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for scenario in Scenario::ALL {
            assert_eq!(scenario.as_str().parse::<Scenario>(), Ok(scenario));
        }
        assert_eq!("stdin_echo".parse::<Scenario>(), Ok(Scenario::StdinEcho));
        assert_eq!(" Ping ".parse::<Scenario>(), Ok(Scenario::Ping));
        let error = "warp".parse::<Scenario>().expect_err("unknown");
        assert!(error.to_string().contains("`warp`"), "{error}");
    }

    #[test]
    fn empty_selection_means_all() {
        let options = BenchOptions::default();
        assert!(Scenario::ALL
            .iter()
            .all(|&scenario| options.wants(scenario)));
        let only_ping = BenchOptions {
            scenarios: vec![Scenario::Ping],
            ..BenchOptions::default()
        };
        assert!(only_ping.wants(Scenario::Ping));
        assert!(!only_ping.wants(Scenario::Throughput));
    }

    #[test]
    fn machine_description_names_cpus() {
        assert!(machine_description().contains("cpus"));
    }
}
