//! `runnel serve`: store, registry, spawner, engine and gateway, started in that order and
//! stopped in reverse.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use runnel_gateway::{AppState, GatewayConfig};
use runnel_store::{KeyQuota, KeyScope, Store};

use crate::config::ServeOptions;

pub(crate) async fn serve(options: ServeOptions) -> Result<()> {
    let data_dir = &options.engine.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("create data dir {}", data_dir.display()))?;
    let store = Store::open(data_dir)
        .with_context(|| format!("open the store in {}", data_dir.display()))?;
    store.set_history_retention(options.history_days);
    if store.active_key_count()? == 0 {
        // The first key is the operator's: it can also read `/metrics` and `/api/v1/stats`.
        let (record, key) = store.create_key("initial", KeyScope::Operator, KeyQuota::default())?;
        println!(
            "No API key existed, so an operator key was created (id {}). It is shown only this \
             once:",
            record.id
        );
        println!("{key}");
    }

    // Bind first: a taken port should fail before any sandbox is made.
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listen on {}", options.listen))?;
    let metrics_listener = match options.metrics_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listen for metrics on {address}"))?,
        ),
        None => None,
    };
    let door = door_config(&options)?;

    let (engine, default_limits) = crate::engine::start(&options.engine).await?;

    let gateway_config = GatewayConfig {
        max_frame_bytes: options.max_frame_bytes,
        max_body_bytes: options.max_body_bytes,
        auth_timeout: Duration::from_secs_f64(options.auth_timeout.max(0.1)),
        run_grace: Duration::from_secs_f64(options.run_grace.clamp(0.0, 86_400.0)),
        default_limits,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        door,
        header_timeout: seconds("--header-timeout", options.header_timeout)?,
        body_timeout: seconds("--body-timeout", options.body_timeout)?,
        shutdown_grace: {
            let grace = options.shutdown_grace;
            anyhow::ensure!(
                grace.is_finite() && (0.0..=86_400.0).contains(&grace),
                "--shutdown-grace must be a number of seconds from 0 to 86400"
            );
            Duration::from_secs_f64(grace)
        },
    };
    let state = AppState::new(engine.clone(), store.clone(), gateway_config);
    let address = listener.local_addr()?;
    let (shutdown, now) = crate::signals::stop_signals(options.stop_on_stdin_close)?;
    let metrics = match metrics_listener {
        Some(metrics_listener) => {
            let metrics_address = metrics_listener.local_addr()?;
            println!(
                "runnel metrics on http://{metrics_address}/metrics (no key: keep it private)"
            );
            let state = state.clone();
            Some(tokio::spawn(async move {
                let forever = std::future::pending::<()>();
                if let Err(error) =
                    runnel_gateway::serve_metrics(metrics_listener, state, forever).await
                {
                    tracing::error!(%error, "metrics listener failed");
                }
            }))
        }
        None => None,
    };
    println!("runnel listening on http://{address} (WebSocket ws://{address}/ws)");
    std::io::stdout().flush()?;

    // A spawner that cannot be started again stops the server too, which then exits non-zero
    // so that its supervisor (systemd, Kubernetes) restarts it.
    let (failed_sender, failed) = tokio::sync::oneshot::channel::<String>();
    let stop = {
        let engine = engine.clone();
        async move {
            tokio::select! {
                () = shutdown => {}
                error = engine.spawner_failed() => {
                    tracing::error!(%error, "no sandbox spawner: stopping the server");
                    let _ = failed_sender.send(error);
                }
            }
        }
    };
    // Stops accepting, drains (runs in flight get `--shutdown-grace`), stops the engine and
    // closes every socket with 1001.
    runnel_gateway::serve(listener, state, stop, now).await?;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    tracing::info!("stopped");
    engine.shutdown().await;
    store.flush();
    if let Ok(error) = failed.await {
        anyhow::bail!("the sandbox spawner died and no new one could be started: {error}");
    }
    Ok(())
}

/// The front door's caps: the connection cap lowered to half the open files limit (raised to
/// its hard limit first), leaving the other half for runs, sessions and the store.
fn door_config(options: &ServeOptions) -> Result<runnel_gateway::DoorConfig> {
    anyhow::ensure!(
        options.max_connections > 0 && options.max_connections_per_address > 0,
        "--max-connections and --max-connections-per-address must be at least 1"
    );
    let open_files = runnel_sandbox::raise_open_files_limit()
        .context("raise the open files limit (RLIMIT_NOFILE) to its hard limit")?;
    let budget = usize::try_from(open_files / 2).unwrap_or(usize::MAX).max(1);
    if options.max_connections > budget {
        tracing::warn!(
            max_connections = options.max_connections,
            open_files,
            lowered_to = budget,
            "--max-connections lowered to half the open files limit; raise `ulimit -Hn` for more"
        );
    }
    Ok(runnel_gateway::DoorConfig {
        max_connections: options.max_connections.min(budget),
        max_per_address: options.max_connections_per_address,
    })
}

/// A positive, finite number of seconds from a flag, at most a day.
fn seconds(flag: &str, value: f64) -> Result<Duration> {
    anyhow::ensure!(
        value.is_finite() && value > 0.0 && value <= 86_400.0,
        "{flag} must be a number of seconds above 0 and at most 86400"
    );
    Ok(Duration::from_secs_f64(value))
}
