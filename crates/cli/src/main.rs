//! The `runnel` binary: thin wiring of the library crates.
//!
//! `Config` (clap plus `RUNNEL_*` environment variables) is built once here and passed down;
//! nothing else reads the environment.

mod config;
mod engine;
mod keys;
mod node;
mod serve;
mod signals;

use anyhow::Result;
use clap::Parser;

use crate::config::{Cli, Command};

fn main() -> Result<()> {
    // The spawner is this same binary re-executed; it must take over before any thread starts.
    runnel_sandbox::run_spawner_if_requested();
    let cli = Cli::parse();
    init_tracing(&cli);
    match cli.command {
        Command::Doctor => {
            let report = runnel_sandbox::doctor();
            println!("{report}");
            if report.ok() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        command => runtime()?.block_on(run(command)),
    }
}

async fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(options) => serve::serve(options).await,
        Command::Node(options) => node::node(options).await,
        Command::Keys(options) => keys::keys(options),
        Command::Languages(options) => keys::languages(options),
        Command::Exec(options) => {
            let code = runnel_client::exec::exec(options.into_exec_options()?).await?;
            std::process::exit(code)
        }
        Command::Bench(options) => {
            let json = options.json;
            let report = runnel_client::bench::bench(options.into_bench_options()?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                println!("{report}");
            }
            Ok(())
        }
        Command::Doctor => Ok(()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_tracing(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
