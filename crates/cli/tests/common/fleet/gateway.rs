//! A gateway's side of the fleet tests: a [`Fleet`] joined to the test's bus, and what the
//! tests ask of it and read from it.

use std::time::Duration;

use runnel_engine::api::{Event, Fault, Follow, Input, LogId, Request};
use runnel_engine::{Limits, RunEvent, RunRequest, SourceFile};
use runnel_fleet::{BusOptions, Fleet, FleetOptions, RemoteFollower, Subjects};
use runnel_protocol::{RunStatus, StreamName};

use super::Nats;
use crate::common::PATIENCE;

pub const OWNER: &str = "tenant-a";

pub async fn gateway(nats: &Nats, options: FleetOptions) -> Fleet {
    let client = runnel_fleet::connect(&BusOptions {
        url: nats.url.clone(),
        credentials: None,
        nkey_seed: None,
        subjects: Subjects::default(),
        name: "test-gateway".to_owned(),
    })
    .await
    .expect("connect to nats");
    Fleet::join(client, Subjects::default(), options)
        .await
        .expect("join")
}

pub async fn wait_for_nodes(fleet: &Fleet, ids: &[&str]) {
    let wanted: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    tokio::time::timeout(
        PATIENCE,
        fleet.wait_for(|nodes| wanted.iter().all(|id| nodes.iter().any(|n| &n.id == id))),
    )
    .await
    .expect("the nodes joined");
}

pub fn python_run(id: &str, code: &str) -> RunRequest {
    RunRequest {
        id: id.to_owned(),
        owner: OWNER.to_owned(),
        language: "python".to_owned(),
        files: vec![SourceFile {
            name: String::new(),
            contents: code.as_bytes().to_vec(),
        }],
        stdin: None,
        close_stdin: false,
        args: Vec::new(),
        compiler_args: Vec::new(),
        limits: Limits {
            wall: Duration::from_secs(120),
            ..Limits::DEFAULT
        },
        replay_bytes: 0,
    }
}

/// Every event until the log ends (or a fault), taking each batch.
pub async fn drain(follower: &mut RemoteFollower) -> (Vec<Event>, Option<Fault>) {
    let mut events = Vec::new();
    loop {
        let next = tokio::time::timeout(PATIENCE, follower.next_batch())
            .await
            .expect("the log goes on");
        match next {
            None => return (events, None),
            Some(Err(fault)) => return (events, Some(fault)),
            Some(Ok(batch)) => {
                let last = batch.last().map(Event::seq).unwrap_or_default();
                events.extend(batch);
                follower.taken(last).await;
            }
        }
    }
}

pub fn run_stdout(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        if let Event::Run(entry) = event {
            if let RunEvent::Output {
                stream: StreamName::Stdout,
                data,
                ..
            } = &entry.kind
            {
                out.extend_from_slice(data);
            }
        }
    }
    out
}

pub fn run_status(events: &[Event]) -> Option<RunStatus> {
    events.iter().rev().find_map(|event| match event {
        Event::Run(entry) => match &entry.kind {
            RunEvent::Exit(outcome) => Some(outcome.status),
            _ => None,
        },
        Event::Session(_) => None,
    })
}

pub fn assert_in_order(events: &[Event], after: u64) {
    for (index, event) in events.iter().enumerate() {
        assert_eq!(
            event.seq(),
            after + 1 + index as u64,
            "each event once, in order"
        );
    }
}

/// Every process below `pid`.
pub fn descendants_of(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut next = vec![pid];
    while let Some(parent) = next.pop() {
        for child in crate::common::children_of(parent) {
            found.push(child);
            next.push(child);
        }
    }
    found
}

pub fn stdin(run: &str, text: &str, seq: u64) -> Request {
    Request::RunInput {
        owner: OWNER.to_owned(),
        run: run.to_owned(),
        input: Input::Stdin {
            data: text.as_bytes().to_vec(),
            eof: false,
        },
        stdin_seq: Some(seq),
    }
}

/// Follow run `id`'s log after `after`.
pub fn run_follow(id: &str, after: u64) -> Follow {
    Follow {
        owner: OWNER.into(),
        log: LogId::Run(id.into()),
        after,
    }
}
