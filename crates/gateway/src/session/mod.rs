//! Sessions at the edge: the HTTP API under `/api/v1/sessions` (`http`), files (`files`) and
//! terminals (`pty`), and what they share with the session actions of a `/ws` connection
//! (`crate::ws::connection::sessions`): creating a session, validating an execute in one,
//! looking one up for its key, and engine session events made protocol messages, each with the
//! session's id and its session-wide `seq`.

pub(crate) mod files;
pub(crate) mod http;
pub(crate) mod pty;

use std::time::Duration;

use runnel_engine::{
    CreateSession, Limits, SessionEvent, SessionEventKind, SessionHandle, SessionRun,
};
use runnel_protocol::client::CreateSessionRequest;
use runnel_protocol::server::{InputRequestMessage, SessionMessage, StartedMessage};
use runnel_protocol::session::SessionInfo;
use runnel_protocol::{ErrorCode, ExecuteRequest, ResultMessage, RunStatus, ServerMessage};

use crate::auth::Principal;
use crate::convert::{files_from_wire, generate_id, limits_from_wire};
pub(crate) use crate::error::gap_error;
use crate::error::ApiError;
use crate::output::{exit_message, lost_outcome, output_message, ResultAccumulator};
use crate::quota::Admission;
use crate::state::AppState;

/// Longest idle timeout a client may ask for: one day.
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Create a session for `principal` from a wire request.
pub(crate) async fn create(
    state: &AppState,
    principal: &Principal,
    request: CreateSessionRequest,
) -> Result<SessionHandle, ApiError> {
    let language = state
        .engine()
        .resolve_language(request.language.trim())
        .ok_or_else(|| {
            if request.language.trim().is_empty() {
                ApiError::bad_request("missing field `language`")
            } else {
                ApiError::new(
                    ErrorCode::UnknownLanguage,
                    format!("unknown language `{}`", request.language),
                )
            }
        })?;
    let limits: Limits = limits_from_wire(
        request.limits,
        None,
        state.config().default_limits,
        &principal.quota,
    )?;
    let idle_timeout = match request.idle_timeout {
        Some(0) => return Err(ApiError::bad_request("`idle_timeout` must be positive")),
        Some(seconds) => Some(Duration::from_secs(seconds).min(MAX_IDLE_TIMEOUT)),
        None => None,
    };
    let create = CreateSession {
        language,
        limits,
        idle_timeout,
    };
    // The session's memory limit counts against the key's maximum while it is open.
    let memory = state
        .engine()
        .committed_memory(&create.language, &create.limits)
        .unwrap_or(create.limits.memory_bytes);
    let committed = state.quotas().commit_memory(
        &principal.key_id,
        memory,
        principal.quota.max_total_memory_mb.saturating_mul(1 << 20),
    )?;
    let session = state
        .engine()
        .create_session(create, &principal.key_id, principal.quota.max_sessions)
        .await?;
    if let Ok(subscription) = session.subscribe(session.last_seq()) {
        let ledger = Ledger {
            store: state.store().clone(),
            quotas: state.quotas().clone(),
            key_id: principal.key_id.clone(),
            cpu_ms_per_minute: principal.quota.cpu_ms_per_minute,
            _committed: committed,
        };
        tokio::spawn(record_runs(ledger, session.clone(), subscription));
    }
    Ok(session)
}

/// A validated session execute, counted against the key's rate (its concurrency is bounded by
/// its sessions: one execute runs at a time in each).
pub(crate) fn session_run(
    state: &AppState,
    request: ExecuteRequest,
    principal: &Principal,
) -> Result<SessionRun, ApiError> {
    let admission = Admission::of(&principal.quota, 0);
    drop(state.quotas().admit(&principal.key_id, admission)?);
    let id = match request.id {
        Some(id) if !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control) => id,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid `id`: it must be 1 to 128 bytes without control characters",
            ))
        }
        None => generate_id(),
    };
    let files = files_from_wire(request.code, request.files)?;
    let limits = limits_from_wire(
        request.limits,
        request.timeout,
        state.config().default_limits,
        &principal.quota,
    )?;
    Ok(SessionRun {
        id,
        files,
        stdin: request.stdin.map(String::into_bytes),
        args: request.args,
        limits,
    })
}

/// Where a session's runs are accounted: the store's run history and the key's CPU budget.
struct Ledger {
    store: runnel_store::Store,
    quotas: crate::quota::QuotaTracker,
    key_id: String,
    cpu_ms_per_minute: u64,
    /// The session's memory, committed for the key until the session ends.
    _committed: crate::quota::RunPermit,
}

/// Write every run of the session into the store's run history, and take its CPU time out of
/// the key's budget, under the key that owns the session, until the session ends.
async fn record_runs(
    Ledger {
        store,
        quotas,
        key_id,
        cpu_ms_per_minute,
        _committed,
    }: Ledger,
    session: SessionHandle,
    mut subscription: runnel_engine::Subscription,
) {
    while let Some(batch) = subscription.next_batch().await {
        let Ok(events) = batch else {
            // Fell behind a flood of output: carry on from the newest event.
            match session.subscribe(session.last_seq()) {
                Ok(fresh) => subscription = fresh,
                Err(_) => return,
            }
            continue;
        };
        for event in events {
            if let SessionEventKind::Exit { run, outcome } = &event.kind {
                quotas.charge_cpu(&key_id, outcome.cpu_time, cpu_ms_per_minute);
                store.record_run(runnel_store::RunRecord {
                    key_id: key_id.clone(),
                    run_id: run.clone(),
                    language: session.language().to_owned(),
                    status: outcome.status.as_str().to_owned(),
                    wall_ms: outcome.wall_time.as_secs_f64() * 1000.0,
                    cpu_ms: outcome.cpu_time.as_secs_f64() * 1000.0,
                    memory_bytes: outcome.peak_memory,
                    finished_at: crate::execution::unix_seconds(),
                });
            }
        }
    }
}

/// The session `id` of `principal`, or `not_found` (also for another key's session).
pub(crate) fn lookup(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<SessionHandle, ApiError> {
    state
        .engine()
        .session(id, &principal.key_id)
        .ok_or_else(|| not_found(id))
}

pub(crate) fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no session `{id}`"))
}

/// The HTTP form of a session.
pub(crate) fn info(session: &SessionHandle) -> SessionInfo {
    let info = session.info();
    SessionInfo {
        id: info.id,
        language: info.language,
        version: info.version,
        services: info.services,
        stateful: info.stateful,
        seq: info.last_seq,
        idle_timeout: info.idle_timeout.as_secs_f64(),
        idle_seconds: info.idle_for.as_secs_f64(),
        running: info.running,
    }
}

/// A `session` message about `session`.
pub(crate) fn session_message(
    session: &SessionHandle,
    event: &str,
    id: Option<String>,
    seq: u64,
) -> ServerMessage {
    ServerMessage::Session(SessionMessage {
        id,
        session: session.id().to_owned(),
        event: event.to_owned(),
        language: Some(session.language().to_owned()),
        services: session.services(),
        seq,
        stdin_seq: None,
    })
}

/// The protocol message of one session event.
pub(crate) fn event_message(session: &SessionHandle, event: &SessionEvent) -> ServerMessage {
    let seq = event.seq;
    let session_id = Some(session.id().to_owned());
    match &event.kind {
        SessionEventKind::Started { run } => ServerMessage::Started(StartedMessage {
            id: run.clone(),
            language: session.language().to_owned(),
            version: session.version().to_owned(),
            session: session_id,
            seq,
        }),
        SessionEventKind::Output {
            run,
            stage,
            stream,
            data,
        } => output_message(run.clone(), session_id, *stage, *stream, data, seq),
        SessionEventKind::InputRequest {
            run,
            prompt,
            password,
        } => ServerMessage::InputRequest(InputRequestMessage {
            id: run.clone(),
            prompt: prompt.clone(),
            password: *password,
            seq,
            session: session_id,
        }),
        SessionEventKind::Exit { run, outcome } => {
            let mut exit = exit_message(run.clone(), outcome.clone(), seq);
            exit.session = session_id;
            ServerMessage::Exit(exit)
        }
        SessionEventKind::Restarted => session_message(session, "restarted", None, seq),
        SessionEventKind::Closed { reason } => session_message(session, reason, None, seq),
    }
}

/// Gather run `run_id`'s events from `subscription` (taken before the run started) into one
/// `result`.
pub(crate) async fn collect_result(
    session: &SessionHandle,
    mut subscription: runnel_engine::Subscription,
    run_id: String,
    output_limit: u64,
) -> Result<ResultMessage, ApiError> {
    let mut accumulator = ResultAccumulator::new(output_limit);
    let outcome = 'events: loop {
        let Some(batch) = subscription.next_batch().await else {
            break lost_outcome();
        };
        for event in batch.map_err(gap_error)? {
            match &event.kind {
                SessionEventKind::Output {
                    run,
                    stage,
                    stream,
                    data,
                } if *run == run_id => accumulator.push(*stage, *stream, data),
                SessionEventKind::Exit { run, outcome } if *run == run_id => {
                    break 'events outcome.clone();
                }
                _ => {}
            }
        }
    };
    let mut result = accumulator.finish(
        run_id,
        session.language().to_owned(),
        session.version().to_owned(),
        outcome,
    );
    if result.status == RunStatus::InternalError && result.message.is_none() {
        result.message = Some("the session closed during the run".to_owned());
    }
    Ok(result)
}
