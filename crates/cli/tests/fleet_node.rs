//! `runnel node` on a real NATS bus: real `nats-server` and `runnel node` processes, driven
//! from this test as a gateway would drive them ([`runnel_fleet::Fleet`]): placement, runs
//! with stdin, sessions whose state outlives the gateway that made them, a small flow-control
//! window, malformed messages. `fleet_loss.rs` kills and drains nodes.

mod common;

use common::fleet::gateway::{
    assert_in_order, drain, gateway, python_run, run_follow, run_status, run_stdout, stdin,
    wait_for_nodes, OWNER,
};
use common::fleet::{Nats, NodeProcess};
use common::PATIENCE;
use runnel_engine::api::{
    codec, Event, Fault, FaultKind, Follow, LogId, Reply, Request, Response, SessionOp,
};
use runnel_engine::{CreateSession, Limits, SessionEventKind, SessionRun, SourceFile};
use runnel_fleet::{BusOptions, FleetOptions, Subjects};
use runnel_protocol::RunStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_placed_on_a_node_streams_over_the_bus_and_takes_stdin_once() {
    let nats = Nats::start();
    let a = NodeProcess::start(&nats, "node-a", &[]);
    let b = NodeProcess::start(&nats, "node-b", &[]);
    let fleet = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&fleet, &[&a.id, &b.id]).await;
    let status = fleet.nodes();
    assert!(
        status
            .iter()
            .all(|node| node.capacity > 0 && node.health != "down"),
        "{status:?}"
    );

    let code = "name = input()\nprint('hello', name)\nprint(input().upper())";
    let (node, reply) = fleet
        .place(Some("python"), &Request::Run(python_run("r1", code)))
        .await
        .expect("placed");
    let Reply::Run(started) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(started.language, "python");
    assert!(node == a.id || node == b.id, "{node}");

    // Another gateway finds the run by asking every node.
    let other = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&other, &[&a.id, &b.id]).await;
    assert_eq!(
        other.locate(OWNER, &LogId::Run("r1".into())).await,
        Some(node.clone())
    );
    assert_eq!(
        other.locate("tenant-b", &LogId::Run("r1".into())).await,
        None,
        "owners are apart"
    );

    let follow = run_follow("r1", 0);
    let mut follower = fleet.follow(&node, follow).await.expect("follow");
    assert_eq!(
        fleet.call(&node, &stdin("r1", "bus\n", 1)).await,
        Ok(Reply::Done)
    );
    // The same stdin again (a client re-sending after a reconnect) applies once.
    assert_eq!(
        fleet.call(&node, &stdin("r1", "bus\n", 1)).await,
        Ok(Reply::Duplicate)
    );
    assert_eq!(
        fleet.call(&node, &stdin("r1", "second\n", 2)).await,
        Ok(Reply::Done)
    );
    let (events, fault) = drain(&mut follower).await;
    assert_eq!(fault, None);
    assert_in_order(&events, 0);
    assert_eq!(
        String::from_utf8_lossy(&run_stdout(&events)),
        "hello bus\nSECOND\n"
    );
    assert_eq!(run_status(&events), Some(RunStatus::Ok));

    // A follower from the middle gets only what came after.
    let mid = events[1].seq();
    let follow = run_follow("r1", mid);
    let mut late = other.follow(&node, follow).await.expect("follow again");
    let (rest, fault) = drain(&mut late).await;
    assert_eq!(fault, None);
    assert_in_order(&rest, mid);
    assert_eq!(rest.last().map(Event::seq), events.last().map(Event::seq));

    // An unknown language is the engine's own fault, carried as it is.
    let mut bad = python_run("r2", "");
    bad.language = "cobol-2099".into();
    let refused = fleet.place(Some("cobol-2099"), &Request::Run(bad)).await;
    assert_eq!(
        refused.map_err(|fault| fault.kind),
        Err(FaultKind::UnknownLanguage)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_state_lives_on_its_node_whichever_gateway_reaches_it() {
    let nats = Nats::start();
    let a = NodeProcess::start(&nats, "node-a", &[]);
    let first = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&first, &[&a.id]).await;
    let create = Request::CreateSession {
        owner: OWNER.into(),
        max_sessions: 0,
        request: CreateSession {
            language: "python".into(),
            limits: Limits::DEFAULT,
            idle_timeout: None,
        },
    };
    let (node, reply) = first.place(Some("python"), &create).await.expect("created");
    let Reply::Session(info) = reply else {
        panic!("{reply:?}")
    };
    let session = info.id.clone();
    let execute = |id: &str, code: &str| Request::Session {
        owner: OWNER.into(),
        session: session.clone(),
        op: SessionOp::Execute(SessionRun {
            id: id.into(),
            files: vec![SourceFile {
                name: String::new(),
                contents: code.as_bytes().to_vec(),
            }],
            stdin: None,
            args: Vec::new(),
            limits: Limits::DEFAULT,
        }),
    };
    assert_eq!(
        first.call(&node, &execute("c1", "x = 41")).await,
        Ok(Reply::Done)
    );
    drop(first);

    // A second gateway, which never saw the session, finds it and goes on with its state.
    let second = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&second, &[&a.id]).await;
    let found = second.locate(OWNER, &LogId::Session(session.clone())).await;
    assert_eq!(found.as_deref(), Some(node.as_str()));
    let follow = Follow {
        owner: OWNER.into(),
        log: LogId::Session(session.clone()),
        after: 0,
    };
    let mut follower = second.follow(&node, follow).await.expect("follow");
    assert_eq!(
        second.call(&node, &execute("c2", "print(x + 1)")).await,
        Ok(Reply::Done)
    );
    let mut events = Vec::new();
    let mut printed = Vec::new();
    'outer: loop {
        let batch = tokio::time::timeout(PATIENCE, follower.next_batch())
            .await
            .expect("events")
            .expect("not ended")
            .expect("no fault");
        for event in &batch {
            if let Event::Session(entry) = event {
                match &entry.kind {
                    SessionEventKind::Output { run, data, .. } if run == "c2" => {
                        printed.extend_from_slice(data)
                    }
                    SessionEventKind::Exit { run, .. } if run == "c2" => {
                        events.extend(batch.clone());
                        break 'outer;
                    }
                    _ => {}
                }
            }
        }
        follower
            .taken(batch.last().map(Event::seq).unwrap_or_default())
            .await;
        events.extend(batch);
    }
    assert_in_order(&events, 0);
    assert_eq!(String::from_utf8_lossy(&printed), "42\n");

    // Another tenant cannot reach it; its owner closes it.
    let peek = Request::Session {
        owner: "tenant-b".into(),
        session: session.clone(),
        op: SessionOp::Describe,
    };
    assert_eq!(
        second.call(&node, &peek).await.map_err(|f| f.kind),
        Err(FaultKind::NotFound)
    );
    let close = Request::Session {
        owner: OWNER.into(),
        session,
        op: SessionOp::Close,
    };
    assert_eq!(second.call(&node, &close).await, Ok(Reply::Done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_output_through_a_small_window_arrives_whole_and_in_order() {
    let nats = Nats::start();
    let a = NodeProcess::start(&nats, "node-a", &[]);
    // The smallest window a node grants: 64 KiB in flight, for 8 MiB of output.
    let fleet = gateway(
        &nats,
        FleetOptions {
            window: 1,
            ..FleetOptions::default()
        },
    )
    .await;
    wait_for_nodes(&fleet, &[&a.id]).await;
    let code = "import sys\nfor i in range(131072):\n    sys.stdout.write('%063d\\n' % i)";
    let mut run = python_run("big", code);
    run.close_stdin = true;
    run.limits.output_bytes = 16 << 20;
    let (node, _) = fleet
        .place(Some("python"), &Request::Run(run))
        .await
        .expect("placed");
    let follow = run_follow("big", 0);
    let mut follower = fleet.follow(&node, follow).await.expect("follow");
    let (events, fault) = drain(&mut follower).await;
    assert_eq!(fault, None);
    assert_in_order(&events, 0);
    assert_eq!(run_status(&events), Some(RunStatus::Ok));
    let out = run_stdout(&events);
    assert_eq!(out.len(), 131072 * 64);
    for (i, line) in out.split(|byte| *byte == b'\n').take(131072).enumerate() {
        assert_eq!(line, format!("{i:063}").as_bytes(), "line {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_on_the_bus_get_named_faults_and_the_node_goes_on() {
    let nats = Nats::start();
    let a = NodeProcess::start(&nats, "node-a", &[]);
    let fleet = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&fleet, &[&a.id]).await;
    let client = runnel_fleet::connect(&BusOptions {
        url: nats.url.clone(),
        credentials: None,
        nkey_seed: None,
        subjects: Subjects::default(),
        name: "hostile".into(),
    })
    .await
    .expect("connect");
    let subjects = Subjects::default();
    for garbage in [&b""[..], b"\xc1\xc1", b"{\"run\": 1}", &[0x92; 64]] {
        let answer = client
            .request(subjects.call(&a.id), bytes::Bytes::copy_from_slice(garbage))
            .await
            .expect("an answer");
        let response: Response = codec::decode(&answer.payload).expect("a response");
        assert_eq!(response.map_err(|f| f.kind), Err(FaultKind::InvalidRequest));
        let answer = client
            .request(subjects.open(&a.id), bytes::Bytes::copy_from_slice(garbage))
            .await
            .expect("an answer");
        let opened: Result<runnel_fleet::wire::Opened, Fault> =
            codec::decode(&answer.payload).expect("an answer to an open");
        assert_eq!(opened.map_err(|f| f.kind), Err(FaultKind::InvalidRequest));
    }
    // A follow of nothing is not_found; the node still answers real work.
    let follow = run_follow("none", 0);
    assert_eq!(
        fleet.follow(&a.id, follow).await.err().map(|f| f.kind),
        Some(FaultKind::NotFound)
    );
    let mut run = python_run("ok", "print(6 * 7)");
    run.close_stdin = true;
    let (node, _) = fleet.place(None, &Request::Run(run)).await.expect("placed");
    let follow = run_follow("ok", 0);
    let (events, _) = drain(&mut fleet.follow(&node, follow).await.expect("follow")).await;
    assert_eq!(run_stdout(&events), b"42\n");
}
