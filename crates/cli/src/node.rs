//! `runnel node`: an engine on the fleet's bus. It starts the engine, joins the bus as its
//! node id, and serves until asked to stop: the first SIGTERM or SIGINT drains it (no new runs
//! or sessions; what it holds finishes, closes or expires), a second one stops it at once.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use runnel_engine::api::Service;
use runnel_fleet::{BusOptions, Node, NodeOptions, Subjects};

use crate::config::NodeArgs;

pub(crate) async fn node(options: NodeArgs) -> Result<()> {
    let subjects = Subjects::new(&options.subject_prefix).map_err(anyhow::Error::msg)?;
    let id = match &options.node_id {
        Some(id) => id.clone(),
        None => host_name_as_token()?,
    };
    anyhow::ensure!(
        (50..=60_000).contains(&options.heartbeat_ms),
        "--heartbeat-ms must be from 50 to 60000"
    );
    let bus = BusOptions {
        url: options.nats.clone(),
        credentials: options.nats_creds.clone(),
        nkey_seed: options.nats_nkey.clone(),
        subjects: subjects.clone(),
        name: format!("runnel-node-{id}"),
    };
    // The bus first: a node that cannot reach it should fail before it makes any sandbox.
    let client = runnel_fleet::connect(&bus).await?;
    let (engine, _) = crate::engine::start(&options.engine).await?;
    let node = Node::start(
        client.clone(),
        subjects,
        Service::new(engine.clone()),
        NodeOptions {
            id: id.clone(),
            capacity: u64::try_from(options.engine.max_runs).unwrap_or(u64::MAX),
            heartbeat: Duration::from_millis(options.heartbeat_ms),
        },
    )
    .await?;
    println!("runnel node {id} on the bus at {}", options.nats);
    std::io::stdout().flush()?;

    let (drain, now) = crate::signals::stop_signals(options.stop_on_stdin_close)?;
    let mut now = std::pin::pin!(now);
    // What stopped the wait: a first signal (drain), a second (or stdin closing: at once), or
    // a spawner that cannot be started again.
    let (at_once, failed) = tokio::select! {
        () = drain => (false, None),
        () = &mut now => (true, None),
        error = engine.spawner_failed() => (true, Some(error)),
    };
    if !at_once {
        node.drain().await;
        tokio::select! {
            () = node.drained() => tracing::info!("drained: nothing runs and no session is left"),
            () = &mut now => tracing::info!("stopping at once"),
        }
    }
    node.stop().await;
    engine.shutdown().await;
    if let Err(error) = client.drain().await {
        tracing::warn!(%error, "bus: drain at stop");
    }
    tracing::info!("stopped");
    if let Some(error) = failed {
        anyhow::bail!("the sandbox spawner died and no new one could be started: {error}");
    }
    Ok(())
}

/// The host's name, made a NATS token (anything but letters, digits, `-` and `_` becomes
/// `-`).
fn host_name_as_token() -> Result<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("read the host's name (or give --node-id)")?;
    let token: String = name
        .trim()
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    anyhow::ensure!(!token.is_empty(), "the host has no name: give --node-id");
    Ok(token)
}
