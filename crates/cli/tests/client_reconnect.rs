//! Fault injection for the Rust client: a TCP proxy between client and server cuts every
//! connection several times during a long streaming run and during interactive stdin. The
//! caller's output must be complete, in order, without duplicates; a server that stays away
//! makes the client give up with a named error.
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use runnel_client::{Backoff, Client, ClientError, ClientOptions, ConnectionState, Heartbeat};
use runnel_protocol::{ExecuteRequest, ServerMessage};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy to `upstream` that can cut every connection through it.
struct Proxy {
    address: std::net::SocketAddr,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepted = Arc::clone(&links);
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let link = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                accepted.lock().expect("links").push(link);
            }
        });
        Proxy {
            address,
            links,
            acceptor,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    /// Drop every connection through the proxy (both sockets close at once).
    fn cut(&self) {
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    /// Stop accepting and cut everything: the server is unreachable from now on.
    fn shut(&self) {
        self.acceptor.abort();
        self.cut();
    }
}

fn quick_reconnect() -> ClientOptions {
    ClientOptions {
        reconnect: Some(Backoff {
            max_retries: 20,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
            factor: 2.0,
            jitter: 0.3,
        }),
        heartbeat: Some(Heartbeat {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }),
    }
}

fn python(code: &str) -> ExecuteRequest {
    ExecuteRequest {
        language: "python".to_owned(),
        code: Some(code.to_owned()),
        ..ExecuteRequest::default()
    }
}

async fn next(run: &mut runnel_client::Run) -> ServerMessage {
    tokio::time::timeout(PATIENCE, run.next_event())
        .await
        .expect("an event within the patience window")
        .expect("the run has more events")
}

#[tokio::test]
async fn a_streaming_run_survives_cut_connections_with_every_line_once_in_order() {
    const LINES: usize = 400;
    let server = Server::start(&[]);
    let proxy = Proxy::start(server.address).await;
    let client = Client::connect_with(&proxy.url(), &server.key, quick_reconnect())
        .await
        .expect("connect");
    let code = format!(
        "import time\nfor i in range({LINES}):\n    print(f'line {{i}}', flush=True)\n    time.sleep(0.004)"
    );
    let mut run = client.execute(python(&code)).await.expect("execute");
    let mut stdout = String::new();
    let mut cuts = 0;
    let exit = loop {
        match next(&mut run).await {
            ServerMessage::Stdout(chunk) => {
                stdout.push_str(&chunk.data);
                if cuts < 4 && stdout.lines().count() >= (cuts + 1) * 70 {
                    proxy.cut();
                    cuts += 1;
                }
            }
            ServerMessage::Exit(exit) => break exit,
            ServerMessage::Error(error) => panic!("the run failed: {error:?}"),
            _ => {}
        }
    };
    assert_eq!(exit.status.as_str(), "ok", "{exit:?}");
    let expected: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
    assert_eq!(cuts, 4);
    assert!(
        client.reconnects() >= 4,
        "reconnects: {}",
        client.reconnects()
    );
    assert_eq!(client.connection_state(), ConnectionState::Connected);
}

#[tokio::test]
async fn interactive_stdin_written_across_cuts_is_applied_once_each() {
    const LINES: usize = 12;
    let server = Server::start(&[]);
    let proxy = Proxy::start(server.address).await;
    let client = Client::connect_with(&proxy.url(), &server.key, quick_reconnect())
        .await
        .expect("connect");
    let code = "import sys\nfor line in sys.stdin:\n    print('echo', line.strip(), flush=True)";
    let mut run = client.execute(python(code)).await.expect("execute");
    let mut stdout = String::new();
    for i in 0..LINES {
        run.write_stdin(&format!("{i}\n"), false)
            .await
            .expect("stdin");
        // Cut right after some writes, before their echo can come back; write some while the
        // client is still reconnecting.
        if i % 4 == 1 {
            proxy.cut();
            continue;
        }
        if i % 4 == 2 {
            continue;
        }
        let expected = format!("echo {i}\n");
        while !stdout.ends_with(&expected) {
            match next(&mut run).await {
                ServerMessage::Stdout(chunk) => stdout.push_str(&chunk.data),
                ServerMessage::Error(error) => panic!("the run failed: {error:?}"),
                _ => {}
            }
        }
    }
    run.write_stdin("", true).await.expect("eof");
    let exit = loop {
        match next(&mut run).await {
            ServerMessage::Stdout(chunk) => stdout.push_str(&chunk.data),
            ServerMessage::Exit(exit) => break exit,
            ServerMessage::Error(error) => panic!("the run failed: {error:?}"),
            _ => {}
        }
    };
    assert_eq!(exit.status.as_str(), "ok", "{exit:?}");
    let expected: String = (0..LINES).map(|i| format!("echo {i}\n")).collect();
    assert_eq!(stdout, expected);
    assert!(
        client.reconnects() >= 3,
        "reconnects: {}",
        client.reconnects()
    );
}

#[tokio::test]
async fn a_server_that_stays_away_makes_the_client_give_up_with_a_named_error() {
    let server = Server::start(&[]);
    let proxy = Proxy::start(server.address).await;
    let options = ClientOptions {
        reconnect: Some(Backoff {
            max_retries: 3,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
            factor: 2.0,
            jitter: 0.0,
        }),
        heartbeat: None,
    };
    let client = Client::connect_with(&proxy.url(), &server.key, options)
        .await
        .expect("connect");
    let mut states = client.watch_connection();
    let mut run = client
        .execute(python("import time\ntime.sleep(30)"))
        .await
        .expect("execute");
    assert!(matches!(next(&mut run).await, ServerMessage::Started(_)));
    proxy.shut();
    let mut seen = Vec::new();
    while seen.last() != Some(&ConnectionState::Closed) {
        tokio::time::timeout(PATIENCE, states.changed())
            .await
            .expect("a state change in time")
            .expect("the client is alive");
        seen.push(*states.borrow_and_update());
    }
    assert!(
        seen.contains(&ConnectionState::Reconnecting { attempt: 3 }),
        "{seen:?}"
    );
    match next(&mut run).await {
        ServerMessage::Error(error) => {
            assert_eq!(error.code.as_str(), "unavailable");
            assert!(error.message.contains("gave up"), "{}", error.message);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    match client.ping().await {
        Err(ClientError::GaveUp { attempts: 3, .. }) => {}
        other => panic!("expected GaveUp, got {other:?}"),
    }
}
