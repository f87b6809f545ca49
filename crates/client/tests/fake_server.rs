//! The client, `bench` and the routing against a small in-process protocol v1 server that
//! answers from a script (the real gateway is tested in its own crate).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use runnel_client::{bench, BenchOptions, Client, ClientError, Scenario};
use runnel_protocol::server::{PongMessage, StartedMessage};
use runnel_protocol::{
    decode_client_frame, ClientMessage, ErrorCode, ExecuteRequest, ExitMessage, OutputChunk,
    ResultMessage, RunStatus, ServerMessage,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "rk_test";

/// Starts the fake server; returns its `ws://` URL (without `/ws`, which the client adds).
async fn start_fake() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp));
        }
    });
    format!("ws://{address}")
}

fn exit(id: &str, seq: u64, status: RunStatus, signal: Option<&str>) -> ServerMessage {
    ServerMessage::Exit(ExitMessage {
        id: id.to_owned(),
        exit_code: signal.is_none().then_some(0),
        signal: signal.map(str::to_owned),
        status,
        execution_time: 1.0,
        compile_time: 0.0,
        cached: false,
        cpu_time: 1.0,
        memory: 1024,
        truncated: false,
        message: None,
        seq,
        session: None,
    })
}

fn stdout(id: &str, seq: u64, data: &str) -> ServerMessage {
    ServerMessage::Stdout(OutputChunk {
        id: id.to_owned(),
        data: data.to_owned(),
        seq,
        stage: None,
        encoding: None,
        session: None,
    })
}

fn result(request: &ExecuteRequest, id: &str) -> ServerMessage {
    ServerMessage::Result(ResultMessage {
        id: id.to_owned(),
        language: request.language.clone(),
        version: "3.11".to_owned(),
        stdout: "hi\n".to_owned(),
        stderr: String::new(),
        compile_output: None,
        exit_code: Some(0),
        signal: None,
        status: RunStatus::Ok,
        execution_time: 1.0,
        compile_time: 0.0,
        cached: false,
        cpu_time: 1.0,
        memory: 1024,
        truncated: false,
        message: None,
    })
}

/// Accepts `/ws` with the right bearer key; anything else gets a 401.
#[allow(
    clippy::result_large_err,
    reason = "the signature is tungstenite's handshake callback"
)]
fn check_key(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    let authorized = request
        .headers()
        .get("authorization")
        .is_some_and(|value| value.as_bytes() == format!("Bearer {KEY}").as_bytes());
    if request.uri().path() == "/ws" && authorized {
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some("unauthorized".to_owned()));
    *refusal.status_mut() = StatusCode::UNAUTHORIZED;
    Err(refusal)
}

/// The script: `ping` -> `pong`; `execute` -> `result`, or for streams `started`, `hi`, then
/// `exit` unless the code reads stdin (then stdin is echoed until EOF); `signal` -> `exit`
/// killed; code `drop` closes the socket; language `cobol` is unknown.
async fn serve(tcp: TcpStream) {
    tcp.set_nodelay(true).expect("nodelay");
    let Ok(socket) = tokio_tungstenite::accept_hdr_async(tcp, check_key).await else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let mut seqs = std::collections::HashMap::<String, u64>::new();
    while let Some(Ok(Message::Text(text))) = stream.next().await {
        let message = decode_client_frame(text.as_str(), 1 << 20).expect("client frame decodes");
        let mut replies = Vec::new();
        match message {
            ClientMessage::Ping { t } => replies.push(ServerMessage::Pong(PongMessage {
                t,
                server_time: 0.0,
            })),
            ClientMessage::Execute(request) => {
                let id = request.id.clone().expect("the client sets ids");
                let code = request.code.clone().unwrap_or_default();
                if code == "drop" {
                    return;
                }
                if request.language == "cobol" {
                    replies.push(ServerMessage::error(
                        ErrorCode::UnknownLanguage,
                        "no cobol here",
                        Some(id),
                    ));
                } else if !request.stream {
                    replies.push(result(&request, &id));
                } else {
                    replies.push(ServerMessage::Started(StartedMessage {
                        id: id.clone(),
                        language: request.language.clone(),
                        version: "3.11".to_owned(),
                        session: None,
                        seq: 1,
                    }));
                    if code.contains("stdin") {
                        seqs.insert(id, 1);
                    } else {
                        replies.push(stdout(&id, 2, "hi\n"));
                        replies.push(exit(&id, 3, RunStatus::Ok, None));
                    }
                }
            }
            ClientMessage::Stdin { id, data, eof } => {
                let seq = seqs.entry(id.clone()).or_insert(1);
                if !data.is_empty() {
                    *seq += 1;
                    replies.push(stdout(&id, *seq, &data));
                }
                if eof {
                    replies.push(exit(&id, *seq + 1, RunStatus::Ok, None));
                }
            }
            ClientMessage::Signal { id, signal } => {
                replies.push(exit(&id, 99, RunStatus::Killed, Some(&signal)));
            }
            other => panic!("unexpected {other:?}"),
        }
        for reply in replies {
            if sink.send(Message::text(reply.to_json())).await.is_err() {
                return;
            }
        }
    }
}

fn python(code: &str) -> ExecuteRequest {
    ExecuteRequest {
        language: "python".to_owned(),
        code: Some(code.to_owned()),
        ..ExecuteRequest::default()
    }
}

#[tokio::test]
async fn ping_run_and_streamed_run() {
    let client = Client::connect(&start_fake().await, KEY)
        .await
        .expect("connect");
    assert!(client.url().ends_with("/ws"));
    let latency = client.ping().await.expect("ping");
    assert!(latency < Duration::from_secs(5));

    let result = client.run(python("print('hi')")).await.expect("run");
    assert_eq!(
        (result.stdout.as_str(), result.status),
        ("hi\n", RunStatus::Ok)
    );

    let mut run = client
        .execute(python("print('hi')"))
        .await
        .expect("execute");
    let mut types = Vec::new();
    while let Some(event) = run.next_event().await {
        types.push(serde_json::to_value(&event).expect("json")["type"].clone());
    }
    assert_eq!(types, ["started", "stdout", "exit"]);
    assert_eq!(run.last_seq(), 3);
    assert!(run.next_event().await.is_none());
}

#[tokio::test]
async fn concurrent_runs_are_routed_by_id_with_stdin_and_signals() {
    let client = Client::connect(&start_fake().await, KEY)
        .await
        .expect("connect");
    let mut echo = client.execute(python("read stdin")).await.expect("echo");
    let mut killed = client
        .execute(python("read stdin too"))
        .await
        .expect("killed");
    assert!(matches!(
        echo.next_event().await,
        Some(ServerMessage::Started(_))
    ));
    assert!(matches!(
        killed.next_event().await,
        Some(ServerMessage::Started(_))
    ));

    echo.write_stdin("one\n", false).await.expect("stdin");
    killed.signal("SIGINT").await.expect("signal");
    echo.write_stdin("two\n", true).await.expect("stdin eof");
    match killed.next_event().await {
        Some(ServerMessage::Exit(exit)) => {
            assert_eq!(exit.status, RunStatus::Killed);
            assert_eq!(exit.signal.as_deref(), Some("SIGINT"));
        }
        other => panic!("expected exit, got {other:?}"),
    }
    let mut echoed = String::new();
    while let Some(event) = echo.next_event().await {
        if let ServerMessage::Stdout(chunk) = event {
            echoed.push_str(&chunk.data);
        }
    }
    assert_eq!(echoed, "one\ntwo\n");
}

#[tokio::test]
async fn errors_are_named() {
    let url = start_fake().await;
    match Client::connect(&url, "rk_wrong").await {
        Err(ClientError::Unauthorized { url }) => assert!(url.ends_with("/ws")),
        other => panic!("expected unauthorized, got {other:?}"),
    }
    let client = Client::connect(&url, KEY).await.expect("connect");
    let mut cobol = python("x");
    cobol.language = "cobol".to_owned();
    match client.run(cobol).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::UnknownLanguage),
        other => panic!("expected unknown_language, got {other:?}"),
    }
    let mut duplicate = python("read stdin");
    duplicate.id = Some("same".to_owned());
    let _first = client.execute(duplicate.clone()).await.expect("first");
    assert!(matches!(
        client.execute(duplicate).await,
        Err(ClientError::DuplicateRunId { .. })
    ));
}

#[tokio::test]
async fn a_dropped_connection_ends_runs_with_unavailable() {
    let client = Client::connect(&start_fake().await, KEY)
        .await
        .expect("connect");
    let mut waiting = client.execute(python("read stdin")).await.expect("execute");
    assert!(matches!(
        waiting.next_event().await,
        Some(ServerMessage::Started(_))
    ));
    let _ = client.execute(python("drop")).await;
    match waiting.next_event().await {
        Some(ServerMessage::Error(error)) => assert_eq!(error.code, ErrorCode::Unavailable),
        other => panic!("expected an unavailable error, got {other:?}"),
    }
    assert!(waiting.next_event().await.is_none());
    assert!(matches!(
        client.ping().await,
        Err(ClientError::Closed { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_runs_every_scenario() {
    let options = BenchOptions {
        url: start_fake().await,
        api_key: KEY.to_owned(),
        warmup: 2,
        n: 10,
        throughput_runs: 40,
        concurrency: 3,
        bare_command: vec!["/bin/true".to_owned()],
        ..BenchOptions::default()
    };
    let report = bench(options).await.expect("bench");
    assert!(report.failures.is_empty(), "{report}");
    let scenarios: Vec<&str> = report
        .rows
        .iter()
        .map(|row| row.scenario.as_str())
        .collect();
    for scenario in Scenario::ALL {
        assert!(
            scenarios.contains(&scenario.as_str()),
            "{scenario} missing: {report}"
        );
    }
    for row in &report.rows {
        assert_eq!(row.errors, 0, "{report}");
        let stats = row.stats.expect("stats");
        let expected = if row.scenario == "throughput" { 40 } else { 10 };
        assert_eq!(stats.n, expected, "{}: {report}", row.scenario);
    }
    assert_eq!(report.ratios.len(), 1, "{report}");
    let json = report.to_json();
    assert!(json["results"][0]["p50_ms"].is_number(), "{json}");
    println!("{report}");
}
