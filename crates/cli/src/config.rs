//! The command line and its `RUNNEL_*` environment variables: the one place configuration is
//! read. Defaults are named constants beside their fields.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod node;

pub(crate) use node::{EngineArgs, NodeArgs};

/// Default address of `runnel serve`.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory (SQLite database, compile cache).
pub(crate) const DEFAULT_DATA_DIR: &str = "runnel-data";
/// Default server URL of the client commands.
pub(crate) const DEFAULT_URL: &str = "ws://127.0.0.1:8080";

/// The host directories the language registry needs: the home directory (`~` in language
/// files) and the temporary directory (where version commands run). Read here once, like every
/// other setting; clippy.toml bans these reads everywhere else.
#[allow(clippy::disallowed_methods)]
pub(crate) fn host_dirs() -> runnel_languages::HostDirs {
    runnel_languages::HostDirs {
        home: std::env::home_dir(),
        scratch: std::env::temp_dir(),
    }
}

/// Runnel: a real-time code execution engine.
#[derive(Debug, Parser)]
#[command(name = "runnel", version, about)]
pub(crate) struct Cli {
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, global = true, env = "RUNNEL_LOG", default_value = "info")]
    pub(crate) log: String,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the server (WebSocket, HTTP, SSE) with embedded defaults.
    Serve(ServeOptions),
    /// Run an executor node of a fleet: it owns sandboxes and sessions, takes its work from
    /// the NATS bus, and accepts no clients.
    Node(NodeArgs),
    /// Run one file on a server, streaming its output, with stdin attached.
    Exec(ExecArgs),
    /// Create, list and revoke API keys.
    Keys(KeysOptions),
    /// List the languages whose runtimes work on this host, with versions.
    Languages(LanguagesOptions),
    /// Probe what this host supports for sandboxing and how to fix what it lacks.
    Doctor,
    /// Measure latency and throughput against a running server.
    Bench(BenchArgs),
}

/// `runnel serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeOptions {
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, env = "RUNNEL_LISTEN", default_value = DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,
    /// The engine: sandboxes, pools, sessions.
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
    /// Largest WebSocket frame accepted, bytes.
    #[arg(long, env = "RUNNEL_MAX_FRAME_BYTES", default_value_t = runnel_gateway::DEFAULT_MAX_FRAME_BYTES)]
    pub(crate) max_frame_bytes: usize,
    /// Largest HTTP request body accepted, bytes.
    #[arg(long, env = "RUNNEL_MAX_BODY_BYTES", default_value_t = runnel_gateway::DEFAULT_MAX_BODY_BYTES)]
    pub(crate) max_body_bytes: usize,
    /// Seconds an unauthenticated WebSocket may stay open.
    #[arg(long, env = "RUNNEL_AUTH_TIMEOUT", default_value_t = 5.0)]
    pub(crate) auth_timeout: f64,
    /// Seconds a streamed run outlives its dropped WebSocket waiting for a `resume` (and a
    /// finished run's events are kept for one).
    #[arg(long, env = "RUNNEL_RUN_GRACE", default_value_t = 30.0)]
    pub(crate) run_grace: f64,
    /// Open connections at once (HTTP and WebSocket); lowered at start-up to half the open
    /// files limit, so that `accept` never runs out of file descriptors.
    #[arg(long, env = "RUNNEL_MAX_CONNECTIONS", default_value_t = runnel_gateway::door::DEFAULT_MAX_CONNECTIONS)]
    pub(crate) max_connections: usize,
    /// Connections at once from one IPv4 address (or IPv6 /64) that have not authenticated.
    #[arg(long, env = "RUNNEL_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = runnel_gateway::door::DEFAULT_MAX_PER_ADDRESS)]
    pub(crate) max_connections_per_address: usize,
    /// Seconds a client has to send a request's headers; also how long a keep-alive
    /// connection may stay idle between requests.
    #[arg(long, env = "RUNNEL_HEADER_TIMEOUT", default_value_t = runnel_gateway::DEFAULT_HEADER_TIMEOUT.as_secs_f64())]
    pub(crate) header_timeout: f64,
    /// Days of run history kept (older runs are deleted every hour); 0 keeps it for ever.
    #[arg(long, env = "RUNNEL_HISTORY_DAYS", default_value_t = 90)]
    pub(crate) history_days: u32,
    /// Seconds runs in flight get to finish once the server is asked to stop (SIGTERM or
    /// SIGINT; new work is refused meanwhile). A second signal stops at once.
    #[arg(long, env = "RUNNEL_SHUTDOWN_GRACE", default_value_t = runnel_gateway::DEFAULT_SHUTDOWN_GRACE.as_secs_f64())]
    pub(crate) shutdown_grace: f64,
    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "RUNNEL_BODY_TIMEOUT", default_value_t = runnel_gateway::DEFAULT_BODY_TIMEOUT.as_secs_f64())]
    pub(crate) body_timeout: f64,
    /// A second address serving `/metrics` without a key (and `/healthz`), for a monitoring
    /// network; on the main address `/metrics` needs an operator key.
    #[arg(long, env = "RUNNEL_METRICS_LISTEN")]
    pub(crate) metrics_listen: Option<SocketAddr>,
    /// Stop when stdin closes (for supervisors and tests that must never leave a server behind).
    #[arg(long, default_value_t = false)]
    pub(crate) stop_on_stdin_close: bool,
}

/// `runnel keys`.
#[derive(Debug, Args)]
pub(crate) struct KeysOptions {
    /// Data directory of the server.
    #[arg(long, env = "RUNNEL_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub(crate) data_dir: PathBuf,
    #[command(subcommand)]
    pub(crate) action: KeysAction,
}

/// What to do with keys.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysAction {
    /// Create a key; the key is printed alone on the last line of stdout.
    Create(CreateKeyArgs),
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id or prefix.
    Revoke {
        /// The key's id or a unique prefix.
        id: String,
    },
}

/// `runnel keys create`.
#[derive(Debug, Args)]
pub(crate) struct CreateKeyArgs {
    /// A name for the key.
    #[arg(long, default_value = "default")]
    pub(crate) name: String,
    /// Runs in flight at once.
    #[arg(long)]
    pub(crate) max_concurrency: Option<u32>,
    /// Runs per minute.
    #[arg(long)]
    pub(crate) rate_per_minute: Option<u32>,
    /// Largest wall-clock limit a run may ask for, ms.
    #[arg(long)]
    pub(crate) max_wall_ms: Option<u64>,
    /// Largest memory limit a run may ask for, MiB.
    #[arg(long)]
    pub(crate) max_memory_mb: Option<u64>,
    /// Sessions at once.
    #[arg(long)]
    pub(crate) max_sessions: Option<u32>,
    /// Open connections (WebSockets, HTTP connections) at once.
    #[arg(long)]
    pub(crate) max_connections: Option<u32>,
    /// CPU budget: ms of CPU per minute over all the key's runs and session cells (a bucket
    /// of a minute's worth; past it runs are refused `rate_limited`). 0: none.
    #[arg(long)]
    pub(crate) cpu_ms_per_minute: Option<u64>,
    /// Memory limits of the key's runs and sessions at once, MiB (0: only the server's
    /// budget).
    #[arg(long)]
    pub(crate) max_total_memory_mb: Option<u64>,
    /// `operator` keys may also read the server-wide figures (`/metrics`, `/api/v1/stats`),
    /// which show every tenant's activity.
    #[arg(long, value_enum, default_value_t = Scope::Tenant)]
    pub(crate) scope: Scope,
}

/// What a key may do besides running code.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Scope {
    /// Runs, sessions and files of its own.
    Tenant,
    /// A tenant's rights and the server-wide figures.
    Operator,
}

/// `runnel languages`.
#[derive(Debug, Args)]
pub(crate) struct LanguagesOptions {
    /// Directory of languages (`<id>/language.toml` or `<id>.toml`) to use instead of the
    /// embedded ones.
    #[arg(long, env = "RUNNEL_LANGUAGES_DIR")]
    pub(crate) languages_dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `runnel exec`.
#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The program's file, or `-` to read it from stdin (then `--language` is required).
    pub(crate) file: String,
    /// Program arguments.
    #[arg(trailing_var_arg = true)]
    pub(crate) args: Vec<String>,
    /// Language id or alias; inferred from the file's extension when absent.
    #[arg(long, short)]
    pub(crate) language: Option<String>,
    /// Server URL.
    #[arg(long, env = "RUNNEL_URL", default_value = DEFAULT_URL)]
    pub(crate) url: String,
    /// API key.
    #[arg(long, env = "RUNNEL_API_KEY")]
    pub(crate) api_key: String,
    /// Wall-clock limit, seconds.
    #[arg(long)]
    pub(crate) timeout: Option<f64>,
}

/// `runnel bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Server URL.
    #[arg(long, env = "RUNNEL_URL", default_value = DEFAULT_URL)]
    pub(crate) url: String,
    /// API key.
    #[arg(long, env = "RUNNEL_API_KEY")]
    pub(crate) api_key: String,
    /// Samples per latency scenario.
    #[arg(long, default_value_t = 200)]
    pub(crate) n: usize,
    /// Warm-up samples, not counted.
    #[arg(long, default_value_t = 10)]
    pub(crate) warmup: usize,
    /// Concurrency of the throughput scenario.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Runs of the throughput scenario.
    #[arg(long, default_value_t = 1000)]
    pub(crate) runs: usize,
    /// Scenarios, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub(crate) scenarios: Vec<String>,
    /// Language of the one-shot scenarios.
    #[arg(long, default_value = "python")]
    pub(crate) language: String,
    /// The bare baseline's command line, split on whitespace (default: a bare
    /// `/usr/bin/python3 -I -S -c print("hi")`).
    #[arg(long)]
    pub(crate) bare_command: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

impl ExecArgs {
    /// The client library's options.
    pub(crate) fn into_exec_options(self) -> anyhow::Result<runnel_client::exec::ExecOptions> {
        let limits = self.timeout.map(|seconds| runnel_protocol::LimitsSpec {
            wall_ms: Some((seconds * 1000.0).round().max(1.0) as u64),
            ..Default::default()
        });
        Ok(runnel_client::exec::ExecOptions {
            url: self.url,
            api_key: self.api_key,
            language: self.language,
            path_or_dash: self.file,
            args: self.args,
            limits,
            version: None,
            no_stdin: false,
        })
    }
}

impl BenchArgs {
    /// The client library's options.
    pub(crate) fn into_bench_options(self) -> anyhow::Result<runnel_client::bench::BenchOptions> {
        let scenarios = self
            .scenarios
            .iter()
            .map(|name| name.parse().map_err(|error| anyhow::anyhow!("{error}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let bare_command = match &self.bare_command {
            Some(line) => line.split_whitespace().map(str::to_owned).collect(),
            None => runnel_client::bench::BenchOptions::default().bare_command,
        };
        Ok(runnel_client::bench::BenchOptions {
            bare_command,
            url: self.url,
            api_key: self.api_key,
            language: self.language,
            warmup: self.warmup,
            n: self.n,
            throughput_runs: self.runs,
            concurrency: self.concurrency,
            scenarios,
        })
    }
}
