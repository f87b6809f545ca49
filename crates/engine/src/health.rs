//! The engine's real state, for `/healthz`: the spawner, the warm pools' refills, shutdown.
//! And the recovery after the spawner was replaced: what died with it is dropped.

use std::sync::{Arc, Weak};

use runnel_protocol::http::{HealthProblem, HealthResponse, HealthStatus};
use runnel_sandbox::SpawnerHealth;

use crate::engine::Inner;

/// The state now.
pub(crate) fn report(inner: &Inner) -> HealthResponse {
    let mut problems = Vec::new();
    let mut problem = |component: &str, status, detail: String| {
        problems.push(HealthProblem {
            component: component.to_owned(),
            status,
            detail,
        });
    };
    if inner.is_shutting_down() {
        problem(
            "server",
            HealthStatus::Down,
            "the server is shutting down".to_owned(),
        );
    }
    match inner.backend.health() {
        SpawnerHealth::Running => {}
        SpawnerHealth::Restarting { attempt, error } => problem(
            "spawner",
            HealthStatus::Degraded,
            format!("the sandbox spawner died ({error}); starting a new one, attempt {attempt}"),
        ),
        SpawnerHealth::Failed { error } => problem(
            "spawner",
            HealthStatus::Down,
            format!("no sandbox spawner could be started: {error}"),
        ),
    }
    if let (_, Some(error)) = inner.cache.write_health() {
        problem(
            "cache",
            HealthStatus::Degraded,
            format!("compile cache writes fail (programs compile on every run): {error}"),
        );
    }
    for failing in inner.pool.refills.failing() {
        problem(
            "pool",
            HealthStatus::Degraded,
            format!(
                "warm sandboxes for {} failed {} times in a row (runs of it start cold): {}",
                failing.language, failing.failures, failing.error
            ),
        );
    }
    for failing in inner.sessions.refills.failing() {
        problem(
            "session_pool",
            HealthStatus::Degraded,
            format!(
                "warm sessions for {} failed {} times in a row (sessions of it start cold): {}",
                failing.language, failing.failures, failing.error
            ),
        );
    }
    problems.sort_by_key(|problem| std::cmp::Reverse(problem.status));
    HealthResponse {
        status: problems
            .first()
            .map_or(HealthStatus::Ready, |problem| problem.status),
        problems,
        spawner_restarts: inner.backend.restarts(),
    }
}

/// Each time a new spawner serves after one died: drop the pooled sandboxes and end the
/// sessions that died with the old one, so that nothing dead is handed out.
pub(crate) async fn recover_loop(inner: Weak<Inner>) {
    let Some(mut health) = inner.upgrade().map(|engine| engine.backend.watch_health()) else {
        return;
    };
    let mut was_running = true;
    while health.changed().await.is_ok() {
        let running = *health.borrow_and_update() == SpawnerHealth::Running;
        let Some(engine) = inner.upgrade() else {
            return;
        };
        if running && !was_running {
            recover(&engine).await;
        }
        was_running = running;
    }
}

async fn recover(engine: &Arc<Inner>) {
    let runs = engine.pool.purge_lost();
    let sessions = engine.sessions.purge_lost();
    tracing::warn!(
        pooled_runs = runs,
        pooled_sessions = sessions,
        "dropped the warm sandboxes that died with the old spawner; refilling"
    );
    // Live sessions that died with it end (`lost`) at the reaper's next pass.
}
