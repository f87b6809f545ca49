//! The `session` scenario: a new session from the warm pool until `created`, an execute in a
//! warm session until its `exit`, and (Python) an `input()` answered over stdin until the
//! echoed line. Uses its own socket (opened as the `Client` opens its own): the library's
//! `Client` routes one-shot runs only.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::bench::report::BenchReport;
use crate::bench::scenarios::{hello_program, timed, Metric};
use crate::bench::{BenchOptions, Scenario};
use crate::endpoint::normalize_url;
use crate::error::ClientError;
use crate::link::Socket;

/// Most sessions created one after the other (each waits for the pool to refill).
const MAX_CREATES: usize = 20;
/// Pause between creates, so that each one finds a ready session in the pool.
const REFILL_PAUSE: Duration = Duration::from_millis(300);

struct Connection {
    socket: Socket,
    url: String,
}

impl Connection {
    async fn open(options: &BenchOptions) -> Result<Connection, ClientError> {
        let url = normalize_url(&options.url)?;
        let socket = crate::link::open(&url, &options.api_key).await?;
        Ok(Connection { socket, url })
    }

    async fn send(&mut self, message: Value) -> Result<(), ClientError> {
        let url = self.url.clone();
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .map_err(|source| ClientError::Send {
                url,
                source: Box::new(source),
            })
    }

    /// The next message that satisfies `wanted`; a protocol error ends the wait.
    async fn until(&mut self, wanted: impl Fn(&Value) -> bool) -> Result<Value, ClientError> {
        loop {
            let frame = self.socket.next().await;
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                _ => {
                    return Err(ClientError::Closed {
                        url: self.url.clone(),
                    })
                }
            };
            let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if message["type"] == "error" {
                let code = serde_json::from_value(message["code"].clone())
                    .unwrap_or(runnel_protocol::ErrorCode::InternalError);
                return Err(ClientError::Server {
                    code,
                    message: message["message"].as_str().unwrap_or_default().to_owned(),
                    id: None,
                });
            }
            if wanted(&message) {
                return Ok(message);
            }
        }
    }

    async fn create(&mut self, language: &str) -> Result<String, ClientError> {
        self.send(json!({"action": "create_session", "language": language}))
            .await?;
        let created = self
            .until(|message| message["type"] == "session" && message["event"] == "created")
            .await?;
        Ok(created["session"].as_str().unwrap_or_default().to_owned())
    }

    async fn close(&mut self, session: &str) -> Result<(), ClientError> {
        self.send(json!({"action": "close_session", "session": session}))
            .await?;
        self.until(|message| message["type"] == "session" && message["event"] == "closed")
            .await?;
        Ok(())
    }
}

pub(super) async fn session(
    options: &BenchOptions,
    report: &mut BenchReport,
) -> Result<(), ClientError> {
    let mut connection = Connection::open(options).await?;
    let language = options.language.as_str();

    let mut ready = Metric::default();
    for _ in 0..options.n.clamp(1, MAX_CREATES) {
        tokio::time::sleep(REFILL_PAUSE).await;
        let start = Instant::now();
        match timed("create session", connection.create(language)).await {
            Ok(session) => {
                ready.samples.record(start.elapsed());
                timed("close session", connection.close(&session)).await?;
            }
            Err(error) => ready.fail(|| error.to_string()),
        }
    }
    ready.report(report, Scenario::Session, "new session ready", None);

    let session = timed("create session", connection.create(language)).await?;
    let code = hello_program(language).unwrap_or("print(\"hi\")");
    let mut execute = Metric::default();
    for iteration in 0..options.warmup + options.n {
        let id = format!("bench-{iteration}");
        let start = Instant::now();
        let ran = async {
            connection
                .send(json!({"action": "execute", "session": session, "id": id, "code": code, "stream": true}))
                .await?;
            connection
                .until(|message| message["type"] == "exit" && message["id"] == id.as_str())
                .await
        };
        match timed("session execute", ran).await {
            Ok(exit) if exit["status"] == "ok" => {
                if iteration >= options.warmup {
                    execute.samples.record(start.elapsed());
                }
            }
            Ok(exit) => execute.fail(|| format!("execute ended with {exit}")),
            Err(error) => execute.fail(|| error.to_string()),
        }
    }
    execute.report(report, Scenario::Session, "execute until exit", None);

    if language == "python" {
        let mut echo = Metric::default();
        let loop_code = "while True:\n    print(input(), flush=True)";
        connection
            .send(json!({"action": "execute", "session": session, "id": "echo", "code": loop_code, "stream": true}))
            .await?;
        timed(
            "input request",
            connection.until(|message| message["type"] == "input_request"),
        )
        .await?;
        for iteration in 0..options.warmup + options.n {
            let line = format!("line-{iteration}");
            let start = Instant::now();
            let echoed = async {
                connection
                    .send(json!({"action": "stdin", "id": "echo", "data": format!("{line}\n")}))
                    .await?;
                connection
                    .until(|message| {
                        message["type"] == "stdout"
                            && message["data"]
                                .as_str()
                                .is_some_and(|data| data.starts_with(&line))
                    })
                    .await?;
                connection
                    .until(|message| message["type"] == "input_request")
                    .await
            };
            match timed("session stdin echo", echoed).await {
                Ok(_) if iteration >= options.warmup => echo.samples.record(start.elapsed()),
                Ok(_) => {}
                Err(error) => echo.fail(|| error.to_string()),
            }
        }
        echo.report(report, Scenario::Session, "input() line echoed", None);
    }
    connection.close(&session).await?;
    Ok(())
}
