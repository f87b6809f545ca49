//! The engine's real state, for `/healthz`: the spawner, the warm pools' refills, shutdown.
//! And the recovery after the spawner was replaced: what died with it is dropped.

use std::sync::Weak;

use runnel_protocol::http::{HealthProblem, HealthResponse, HealthStatus};
use runnel_sandbox::SpawnerHealth;

use crate::context::Context;
use crate::pool::RunPool;
use crate::session::manager::SessionManager;

/// The state now.
pub(crate) fn report(inner: &Context, pool: &RunPool, sessions: &SessionManager) -> HealthResponse {
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
    for failing in pool.refills.failing() {
        problem(
            "pool",
            HealthStatus::Degraded,
            format!(
                "warm sandboxes for {} failed {} times in a row (runs of it start cold): {}",
                failing.language, failing.failures, failing.error
            ),
        );
    }
    for failing in sessions.pool.refills.failing() {
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
pub(crate) async fn recover_loop(
    context: Weak<Context>,
    pool: Weak<RunPool>,
    sessions: Weak<SessionManager>,
) {
    let Some(mut health) = context
        .upgrade()
        .map(|engine| engine.backend.watch_health())
    else {
        return;
    };
    let mut was_running = true;
    while health.changed().await.is_ok() {
        let running = *health.borrow_and_update() == SpawnerHealth::Running;
        let (Some(pool), Some(sessions)) = (pool.upgrade(), sessions.upgrade()) else {
            return;
        };
        if running && !was_running {
            recover(&pool, &sessions);
        }
        was_running = running;
    }
}

fn recover(pool: &RunPool, sessions: &SessionManager) {
    let runs = pool.purge_lost();
    let sessions = sessions.pool.purge_lost();
    tracing::warn!(
        pooled_runs = runs,
        pooled_sessions = sessions,
        "dropped the warm sandboxes that died with the old spawner; refilling"
    );
    // Live sessions that died with it end (`lost`) at the reaper's next pass.
}
