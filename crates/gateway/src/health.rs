//! `/healthz`'s report: the engine's state and the store's (run history writes).

use runnel_protocol::http::{HealthProblem, HealthResponse, HealthStatus};

use crate::state::AppState;

/// The server's state now: the engine's problems, and run history that cannot be written.
pub(crate) fn report(state: &AppState) -> HealthResponse {
    let mut health = state.engine().health();
    let history = state.store().history_health();
    if let Some(reason) = &history.failing {
        health.problems.push(HealthProblem {
            component: "history".to_owned(),
            status: HealthStatus::Degraded,
            detail: format!(
                "run history cannot be written: {reason}; {} runs wait in memory to be \
                 written, {} were dropped (runs still work)",
                history.unwritten, history.dropped
            ),
        });
    }
    health
        .problems
        .sort_by_key(|problem| std::cmp::Reverse(problem.status));
    health.status = health
        .problems
        .first()
        .map_or(HealthStatus::Ready, |problem| problem.status);
    health
}
