//! Driving one resumable run: its [`RunLog`] registered and attached to the socket that started
//! it, its events pushed into the log, the run killed when nobody resumed it in time, and the
//! finished log forgotten after a while.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use runnel_protocol::ServerMessage;
use tokio::sync::{mpsc, watch, Notify};

use super::{lock, Attachment, Progress, Ring, RunLog, DELIVERED_LINGER, LOG_CHANNEL};
use crate::execution::Execution;
use crate::state::AppState;
use crate::ws::outbound::Outbound;

/// Register `execution` as a resumable run of `key_id`, attached to `outbound`, and drive it in
/// a task of its own. Returns its log.
pub(crate) fn start(
    state: &AppState,
    key_id: &str,
    mut execution: Execution,
    outbound: mpsc::Sender<Outbound>,
) -> Arc<RunLog> {
    let permit = execution.take_permit();
    let log = Arc::new(RunLog {
        key_id: key_id.to_owned(),
        run_id: execution.id().to_owned(),
        controller: execution.controller(),
        ring: Mutex::new(Ring::default()),
        taken: Notify::new(),
        progress: watch::Sender::new(Progress::default()),
        attachment: Mutex::new(Attachment::default()),
        attachment_changed: Notify::new(),
        stdin_seq: AtomicU64::new(0),
        permit: Mutex::new(permit),
    });
    state.runs().insert(Arc::clone(&log));
    log.attach(outbound, 0, None);
    tokio::spawn(drive(execution, Arc::clone(&log), state.clone()));
    log
}

/// Run `execution` into `log` until it ends, or until no socket has been attached for the
/// grace period (then dropping the execution kills the run); keep the finished log for a
/// while, then forget it. While the ring is full of events no socket has taken, nothing more
/// is read from the run, which so waits.
async fn drive(execution: Execution, log: Arc<RunLog>, state: AppState) {
    let grace = state.config().run_grace;
    let (sender, mut receiver) = mpsc::channel(LOG_CHANNEL);
    let produce = async move { execution.stream::<ServerMessage>(&sender).await };
    tokio::pin!(produce);
    let abandoned = log.abandoned(grace);
    tokio::pin!(abandoned);
    let mut producing = true;
    let mut waiting: Option<String> = None;
    loop {
        tokio::select! {
            () = &mut produce, if producing => producing = false,
            message = receiver.recv(), if waiting.is_none() => match message {
                Some(message) => waiting = log.push(message.to_json()).err(),
                None => break,
            },
            () = log.taken.notified(), if waiting.is_some() => {
                if let Some(text) = waiting.take() {
                    waiting = log.push(text).err();
                }
            }
            () = &mut abandoned => {
                tracing::debug!(run_id = %log.run_id, "no socket resumed the run in time; killing it");
                log.finish();
                drop(lock(&log.permit).take());
                state.runs().remove(&log);
                return;
            }
        }
    }
    log.finish();
    drop(lock(&log.permit).take());
    let linger = if log.is_attached() {
        DELIVERED_LINGER.min(grace)
    } else {
        grace
    };
    tokio::time::sleep(linger).await;
    state.runs().remove(&log);
}
