//! [`Service`]: the engine behind the boundary. It answers each [`Request`] with a
//! [`Response`], keeps the one-shot runs it started by owner and id (so that input, a second
//! follower or a `forget` can find them), and opens [`Follower`]s on logs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{
    Event, FileChunk, Follow, Input, LogId, Reply, Request, Response, RunStarted, SessionOp,
    MAX_FILE_CHUNK,
};
use super::{Fault, FaultKind};
use crate::engine::Engine;
use crate::log::Subscription;
use crate::run::{RunController, RunEvent, RunHandle, RunLog};
use crate::session::{SessionEventKind, SessionHandle};

/// How long a finished run stays after its `exit`, for a follower that lost it.
pub const FINISHED_RUN_KEPT: Duration = Duration::from_secs(60);

/// The engine behind the boundary. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    engine: Engine,
    runs: Arc<Runs>,
}

/// The kept runs, by owner and run id.
type Runs = Mutex<HashMap<(String, String), Arc<KeptRun>>>;

/// A one-shot run the service started. Its keeper task ([`keep_until_let_go`]) holds it until
/// the run ends, so that its `exit` always reaches its log; `forget` kills it.
struct KeptRun {
    log: Arc<RunLog>,
    controller: RunController,
    /// The highest client `stdin_seq` applied.
    stdin_seq: AtomicU64,
    /// What the run is.
    started: RunStarted,
    _handle: RunHandle,
}

impl Service {
    /// The boundary of `engine`.
    pub fn new(engine: Engine) -> Service {
        Service {
            engine,
            runs: Arc::default(),
        }
    }

    /// The engine served.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Answer `request`.
    pub async fn call(&self, request: Request) -> Response {
        match request {
            Request::Run(run) => self.run(run),
            Request::RunInput {
                owner,
                run,
                input,
                stdin_seq,
            } => {
                let kept = self.kept(&owner, &run)?;
                if let (Some(number), Input::Stdin { .. }) = (stdin_seq, &input) {
                    if kept.stdin_seq.fetch_max(number, Ordering::SeqCst) >= number {
                        return Ok(Reply::Duplicate);
                    }
                }
                deliver(
                    &run,
                    input,
                    |data, eof| kept.controller.write_stdin(data, eof),
                    |signal| kept.controller.signal(signal),
                )
            }
            Request::Forget { owner, run } => {
                if let Some(kept) = lock(&self.runs).remove(&(owner, run)) {
                    // It ends `killed`, its exit in its log for whoever follows it.
                    kept.controller.signal(crate::Signal::Kill);
                }
                Ok(Reply::Done)
            }
            Request::DescribeRun { owner, run } => {
                Ok(Reply::Run(self.kept(&owner, &run)?.started.clone()))
            }
            Request::CreateSession {
                owner,
                max_sessions,
                request,
            } => {
                let session = self
                    .engine
                    .create_session(request, &owner, max_sessions)
                    .await?;
                Ok(Reply::Session(session.info()))
            }
            Request::Session { owner, session, op } => {
                let handle = self
                    .engine
                    .session(&session, &owner)
                    .ok_or_else(|| no_session(&session))?;
                self.session_op(handle, &owner, op).await
            }
            Request::ListSessions { owner } => Ok(Reply::Sessions(
                self.engine
                    .sessions(&owner)
                    .iter()
                    .map(SessionHandle::info)
                    .collect(),
            )),
            Request::SessionOfRun { owner, run } => self
                .engine
                .sessions(&owner)
                .into_iter()
                .find(|session| session.has_run(&run))
                .map(|session| Reply::Session(session.info()))
                .ok_or_else(|| Fault::not_found(format!("no session holds a run `{run}`"))),
            Request::Languages => Ok(Reply::Languages(self.engine.languages())),
            Request::Health => Ok(Reply::Health(self.engine.health())),
        }
    }

    /// Follow a log from `follow.after`: `not_found` when the owner has no such run or
    /// session, `replay_gap` when events after `after` are no longer kept.
    pub fn follow(&self, follow: &Follow) -> Result<Follower, Fault> {
        match &follow.log {
            LogId::Run(run) => {
                let kept = self.kept(&follow.owner, run)?;
                Ok(Follower::Run(kept.log.subscribe(follow.after)?))
            }
            LogId::Session(session) => {
                let handle = self
                    .engine
                    .session(session, &follow.owner)
                    .ok_or_else(|| no_session(session))?;
                Ok(Follower::Session(handle.subscribe(follow.after)?))
            }
        }
    }

    fn run(&self, request: crate::run::RunRequest) -> Response {
        let key = (request.owner.clone(), request.id.clone());
        let mut runs = lock(&self.runs);
        if runs.get(&key).is_some_and(|kept| !kept.log.is_closed()) {
            return Err(Fault::new(
                FaultKind::Conflict,
                format!("a run with id `{}` is already in flight", key.1),
            ));
        }
        let handle = self.engine.run(request)?;
        let started = RunStarted {
            id: handle.id.clone(),
            language: handle.language.clone(),
            version: handle.version.clone(),
        };
        let kept = Arc::new(KeptRun {
            log: handle.log(),
            controller: handle.controller(),
            stdin_seq: AtomicU64::new(0),
            started: started.clone(),
            _handle: handle,
        });
        runs.insert(key.clone(), Arc::clone(&kept));
        drop(runs);
        tokio::spawn(keep_until_let_go(Arc::downgrade(&self.runs), key, kept));
        Ok(Reply::Run(started))
    }

    fn kept(&self, owner: &str, run: &str) -> Result<Arc<KeptRun>, Fault> {
        lock(&self.runs)
            .get(&(owner.to_owned(), run.to_owned()))
            .cloned()
            .ok_or_else(|| Fault::not_found(format!("no run `{run}`")))
    }

    async fn session_op(&self, session: SessionHandle, owner: &str, op: SessionOp) -> Response {
        match op {
            SessionOp::Describe => Ok(Reply::Session(session.info())),
            SessionOp::Touch => {
                session.touch();
                Ok(Reply::Done)
            }
            SessionOp::Execute(run) => {
                session.execute(run)?;
                Ok(Reply::Done)
            }
            SessionOp::Input {
                run,
                input,
                stdin_seq,
            } => {
                if let (Some(number), Input::Stdin { .. }) = (stdin_seq, &input) {
                    if !session.accept_stdin_seq(number) {
                        return Ok(Reply::Duplicate);
                    }
                }
                match run {
                    Some(run) => deliver(
                        &run,
                        input,
                        |data, eof| session.write_run_stdin(&run, data, eof),
                        |signal| session.signal_run(&run, signal),
                    ),
                    None => deliver(
                        session.id(),
                        input,
                        |data, eof| session.write_stdin(data, eof),
                        |signal| session.signal(signal),
                    ),
                }
            }
            SessionOp::Restart => {
                session.restart().await?;
                Ok(Reply::Done)
            }
            SessionOp::Upload(files) => {
                session.upload(&files).await?;
                Ok(Reply::Done)
            }
            SessionOp::ListFiles => Ok(Reply::Files(session.list_files().await?)),
            SessionOp::Download { path, offset, len } => {
                download(&session, path, offset, len).await.map(Reply::File)
            }
            SessionOp::Close => {
                if self.engine.close_session(session.id(), owner).await {
                    Ok(Reply::Done)
                } else {
                    Err(no_session(session.id()))
                }
            }
        }
    }
}

/// Stdin or a signal through `write` or `signal`; a signal nothing took is `ended`.
fn deliver(
    run: &str,
    input: Input,
    write: impl FnOnce(Vec<u8>, bool) -> Result<(), crate::StdinRefused>,
    signal: impl FnOnce(crate::Signal) -> bool,
) -> Response {
    match input {
        Input::Stdin { data, eof } => {
            write(data, eof)?;
            Ok(Reply::Done)
        }
        Input::Signal(sent) if signal(sent) => Ok(Reply::Done),
        Input::Signal(_) => Err(Fault::new(
            FaultKind::Ended,
            format!("`{run}` is not running"),
        )),
    }
}

/// At most `len` bytes (and [`MAX_FILE_CHUNK`]) of `path` from `offset`.
async fn download(
    session: &SessionHandle,
    path: String,
    offset: u64,
    len: u64,
) -> Result<FileChunk, Fault> {
    let (mut file, size) = session
        .download(&path)
        .await?
        .ok_or_else(|| Fault::not_found(format!("no file `{path}`")))?;
    let internal = |error: std::io::Error| {
        Fault::new(FaultKind::Internal, format!("reading `{path}`: {error}"))
    };
    let want = len.min(MAX_FILE_CHUNK).min(size.saturating_sub(offset));
    let mut data = Vec::new();
    if want > 0 {
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(internal)?;
        file.take(want)
            .read_to_end(&mut data)
            .await
            .map_err(internal)?;
    }
    Ok(FileChunk { size, offset, data })
}

/// Keep `kept`'s run alive until it ends (forgotten or not: its `exit` goes into its log for
/// every follower), then for [`FINISHED_RUN_KEPT`] in `runs` (unless it was forgotten or
/// replaced already).
async fn keep_until_let_go(runs: Weak<Runs>, key: (String, String), kept: Arc<KeptRun>) {
    let log = Arc::clone(&kept.log);
    log.closed().await;
    let kept = Arc::downgrade(&kept);
    tokio::time::sleep(FINISHED_RUN_KEPT).await;
    let (Some(runs), Some(kept)) = (runs.upgrade(), kept.upgrade()) else {
        return;
    };
    let mut runs = lock(&runs);
    if runs.get(&key).is_some_and(|now| Arc::ptr_eq(now, &kept)) {
        runs.remove(&key);
    }
}

fn no_session(id: &str) -> Fault {
    Fault::not_found(format!("no session `{id}`"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A reader of one log, in order, each event once; see [`Service::follow`].
pub enum Follower {
    /// A run's log.
    Run(Subscription<RunEvent>),
    /// A session's log.
    Session(Subscription<SessionEventKind>),
}

impl Follower {
    /// The next events; `None` after the log's last event. `replay_gap` when the follower fell
    /// so far behind that the log dropped events it had not read (a session's log does).
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>, Fault>> {
        Some(
            match self {
                Follower::Run(subscription) => subscription.next_batch().await?.map(|batch| {
                    batch
                        .iter()
                        .map(|entry| Event::Run((**entry).clone()))
                        .collect()
                }),
                Follower::Session(subscription) => subscription.next_batch().await?.map(|batch| {
                    batch
                        .iter()
                        .map(|entry| Event::Session((**entry).clone()))
                        .collect()
                }),
            }
            .map_err(Fault::from),
        )
    }

    /// The follower has delivered every event up to `seq`: a run's log may let them go (and
    /// its run go on, when it waited for room).
    pub fn taken(&self, seq: u64) {
        match self {
            Follower::Run(subscription) => subscription.taken(seq),
            Follower::Session(subscription) => subscription.taken(seq),
        }
    }
}
