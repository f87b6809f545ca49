//! Driving one resumable run: registered and attached to the socket that started it, killed
//! when nobody resumed it in time, and forgotten a while after it finished.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch, Notify};

use super::{lock, Attachment, Resumable, DELIVERED_LINGER};
use crate::execution::Execution;
use crate::state::AppState;
use crate::ws::outbound::Outbound;

/// Register `execution` as a resumable run of `key_id`, attached to `outbound`, and drive it in
/// a task of its own.
pub(crate) fn start(
    state: &AppState,
    key_id: &str,
    mut execution: Execution,
    outbound: mpsc::Sender<Outbound>,
) -> Arc<Resumable> {
    let permit = execution.take_permit();
    let events = execution.log();
    let run = Arc::new(Resumable {
        key_id: key_id.to_owned(),
        run_id: execution.id().to_owned(),
        controller: execution.controller(),
        meta: execution.meta(),
        finished: watch::Sender::new(false),
        attachment: Mutex::new(Attachment::default()),
        attachment_changed: Notify::new(),
        stdin_seq: AtomicU64::new(0),
        permit: Mutex::new(permit),
        events: Arc::clone(&events),
    });
    state.runs().insert(Arc::clone(&run));
    match events.subscribe(0) {
        Ok(reader) => run.attach(outbound, reader, None),
        Err(gap) => tracing::error!(%gap, "a new run's log has a gap"),
    }
    tokio::spawn(drive(execution, Arc::clone(&run), state.clone()));
    run
}

/// Wait for `execution` to end, or until no socket has been attached for the grace period
/// (then dropping the execution kills the run); keep the finished run for a while, then
/// forget it.
async fn drive(mut execution: Execution, run: Arc<Resumable>, state: AppState) {
    let grace = state.config().run_grace;
    let abandoned = run.abandoned(grace);
    tokio::pin!(abandoned);
    tokio::select! {
        () = execution.finish() => {}
        () = &mut abandoned => {
            tracing::debug!(run_id = %run.run_id, "no socket resumed the run in time; killing it");
            drop(execution);
            run.finish();
            drop(lock(&run.permit).take());
            state.runs().remove(&run);
            return;
        }
    }
    drop(execution);
    run.finish();
    drop(lock(&run.permit).take());
    let linger = if run.is_attached() {
        DELIVERED_LINGER.min(grace)
    } else {
        grace
    };
    tokio::time::sleep(linger).await;
    state.runs().remove(&run);
}
