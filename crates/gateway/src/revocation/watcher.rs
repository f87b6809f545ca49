//! The watcher: polls the store, and ends what a newly revoked key still has open.

use std::sync::Arc;
use std::time::Duration;

use runnel_engine::Signal;

use crate::state::AppState;

/// How often the store is asked whether anything changed.
const POLL: Duration = Duration::from_millis(250);

/// Watch the store until the server shuts down.
pub(crate) async fn watch(state: AppState) {
    let mut shutdown = state.shutdown_signal();
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen_version = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        let Some(version) = from_store(&state, |store| store.data_version()).await else {
            continue;
        };
        if seen_version == Some(version) {
            continue;
        }
        let Some((version, revoked)) = from_store(&state, |store| store.revoked_key_ids()).await
        else {
            continue;
        };
        seen_version = Some(version);
        let known = state.revocations().sender.borrow().clone();
        let fresh: Vec<String> = revoked
            .iter()
            .filter(|id| !known.contains(*id))
            .cloned()
            .collect();
        if fresh.is_empty() {
            continue;
        }
        state
            .revocations()
            .sender
            .send_replace(Arc::new(revoked.into_iter().collect()));
        for key_id in fresh {
            end_key(&state, &key_id).await;
        }
    }
}

/// One store read on the blocking pool; `None` (logged) when it failed.
async fn from_store<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&runnel_store::Store) -> Result<T, runnel_store::StoreError> + Send + 'static,
) -> Option<T> {
    let store = state.store().clone();
    match tokio::task::spawn_blocking(move || read(&store)).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(error)) => {
            tracing::warn!(%error, "revocation check: store");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "revocation check task");
            None
        }
    }
}

/// Close `key_id`'s sessions and kill its streamed runs (its sockets close themselves).
async fn end_key(state: &AppState, key_id: &str) {
    let sessions = state.engine().sessions(key_id);
    let runs = state.runs().kill_all_of(key_id, Signal::Kill);
    if !sessions.is_empty() || runs > 0 {
        tracing::info!(
            key_id,
            sessions = sessions.len(),
            runs,
            "key revoked: its sessions and runs end"
        );
    }
    for session in sessions {
        state.engine().close_session(session.id(), key_id).await;
    }
}
