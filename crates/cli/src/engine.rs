//! The engine of `runnel serve` and `runnel node`, from its flags: registry, sandbox spawner
//! and engine, started in that order.

use std::time::Duration;

use anyhow::{Context, Result};
use runnel_engine::{Engine, EngineConfig, Limits, SessionConfig};
use runnel_languages::Registry;
use runnel_sandbox::{HostConfig, Spawner};

use crate::config::EngineArgs;

/// Start the engine `options` describe; with the limits of a run that asks for none.
pub(crate) async fn start(options: &EngineArgs) -> Result<(Engine, Limits)> {
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("create data dir {}", options.data_dir.display()))?;
    let registry = load_registry(options.languages_dir.clone()).await?;
    let spawner = Spawner::start(HostConfig {
        spawner_exe: std::env::current_exe().context("find the runnel binary")?,
        unconfined: options.unconfined,
    })
    .await
    .context("start the sandbox spawner (run `runnel doctor` to see what this host lacks)")?;

    let mut engine_config = EngineConfig::with_data_dir(&options.data_dir);
    engine_config.pool_size = options.pool_size;
    engine_config.pool_languages = options.pool_languages.clone();
    engine_config.max_concurrent_runs = options.max_runs;
    if let Some(mib) = options.max_committed_memory_mb {
        anyhow::ensure!(mib > 0, "--max-committed-memory-mb must be at least 1");
        engine_config.max_committed_memory_bytes = mib.saturating_mul(1 << 20);
    }
    anyhow::ensure!(
        options.session_idle_timeout.is_finite() && options.session_idle_timeout > 0.0,
        "--session-idle-timeout must be a positive number of seconds"
    );
    engine_config.sessions = SessionConfig {
        idle_timeout: Duration::from_secs_f64(options.session_idle_timeout),
        log_bytes: options.session_log_bytes.max(4096),
        pool_size: options.session_pool_size,
        cpu_budget: positive_seconds("--session-cpu-budget", options.session_cpu_budget)?,
        max_lifetime: positive_seconds("--session-max-lifetime", options.session_max_lifetime)?,
    };
    let default_limits = engine_config.default_limits;
    let engine = Engine::start(engine_config, registry, spawner).await?;
    Ok((engine, default_limits))
}

/// A positive, finite number of seconds from a flag, without an upper bound below a year.
fn positive_seconds(flag: &str, value: f64) -> Result<Duration> {
    anyhow::ensure!(
        value.is_finite() && value > 0.0 && value <= 366.0 * 86_400.0,
        "{flag} must be a number of seconds above 0 and at most a year"
    );
    Ok(Duration::from_secs_f64(value))
}

/// The registry: embedded or from a directory, then detected on this host (off the runtime's
/// threads: detection runs every language's version command).
pub(crate) async fn load_registry(dir: Option<std::path::PathBuf>) -> Result<Registry> {
    tokio::task::spawn_blocking(move || -> Result<Registry> {
        let host = crate::config::host_dirs();
        let registry = match dir {
            Some(dir) => Registry::load_dir(&dir, &host)?,
            None => Registry::embedded(&host)?,
        };
        Ok(registry.detect(&host))
    })
    .await?
}
