//! [`Run`]: the client side of one streamed run: its events in order, and its stdin and
//! signals.

use runnel_protocol::{ClientMessage, ExecuteRequest, ServerMessage};
use tokio::sync::mpsc;

use crate::connection::Client;
use crate::error::ClientError;
use crate::routing;

/// A streamed run started by [`Client::execute`].
#[derive(Debug)]
pub struct Run {
    /// The run id (the caller's, or one the client made).
    pub id: String,
    client: Client,
    events: mpsc::UnboundedReceiver<ServerMessage>,
    finished: bool,
    last_seq: u64,
}

impl Client {
    /// Starts a streamed run (`stream` is forced on; an id is made when absent). Its events
    /// are `started`, `stdout`, `stderr`, `input_request`, then `exit` or `error`. The run
    /// survives reconnects: its events arrive once each, in order.
    pub async fn execute(&self, mut request: ExecuteRequest) -> Result<Run, ClientError> {
        request.stream = true;
        let id = self.assign_id(&mut request);
        let events = self.register(&id, Some(request.clone()))?;
        if let Err(error) = self
            .send_recoverable(&ClientMessage::Execute(request))
            .await
        {
            self.unregister(&id);
            return Err(error);
        }
        Ok(Run::new(id, self.clone(), events))
    }
}

impl Run {
    fn new(id: String, client: Client, events: mpsc::UnboundedReceiver<ServerMessage>) -> Run {
        Run {
            id,
            client,
            events,
            finished: false,
            last_seq: 0,
        }
    }

    /// The next event: `started`, `stdout`, `stderr`, `input_request`, then `exit` or `error`.
    /// `None` after `exit` or `error`. If the connection drops, the last event is an `error`
    /// with code `unavailable`, made by the client.
    pub async fn next_event(&mut self) -> Option<ServerMessage> {
        if self.finished {
            return None;
        }
        let Some(event) = self.events.recv().await else {
            self.finished = true;
            return None;
        };
        if let Some(seq) = routing::seq(&event) {
            self.last_seq = self.last_seq.max(seq);
        }
        if matches!(
            routing::route(&event),
            routing::Route::Run { terminal: true, .. }
        ) {
            self.finished = true;
        }
        Some(event)
    }

    /// Writes to the program's stdin; `eof` closes it after `data`. Each write is numbered
    /// (`stdin_seq`) and kept until the server is known to have it, so that it is applied
    /// exactly once across reconnects.
    pub async fn write_stdin(&self, data: &str, eof: bool) -> Result<(), ClientError> {
        self.client.write_stdin(&self.id, data, eof).await
    }

    /// Sends a signal (`SIGINT`, `SIGTERM`, `SIGKILL`, ...) to the program.
    pub async fn signal(&self, signal: &str) -> Result<(), ClientError> {
        self.client
            .send(&ClientMessage::Signal {
                id: self.id.clone(),
                signal: signal.to_owned(),
            })
            .await
    }

    /// The highest `seq` received so far (0 before the first event): what a `resume` after a
    /// reconnect would send.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Whether the run's last event has been received.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !self.finished {
            self.client.unregister(&self.id);
        }
    }
}
