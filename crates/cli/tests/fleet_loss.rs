//! Nodes leaving a fleet on a real NATS bus: a `runnel node` killed (its followers and calls
//! end with a named fault, nothing of it is left running, new work goes to the other node)
//! and one drained (it takes no new work, finishes what it holds, exits); and the bus itself
//! restarted under a node (the node comes back with what it held).

mod common;

use std::time::Duration;

use common::fleet::gateway::{
    descendants_of, drain, gateway, python_run, run_follow, run_status, run_stdout, stdin,
    wait_for_nodes, OWNER,
};
use common::fleet::{Nats, NodeProcess};
use common::PATIENCE;
use runnel_engine::api::{FaultKind, LogId, Reply, Request};
use runnel_fleet::FleetOptions;
use runnel_protocol::RunStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_lost_at_once_to_its_followers_and_the_other_node_goes_on() {
    let nats = Nats::start();
    let a = NodeProcess::start(&nats, "node-a", &[]);
    let b = NodeProcess::start(&nats, "node-b", &[]);
    let fleet = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&fleet, &[&a.id, &b.id]).await;
    let mut lost = fleet.lost();
    let waiting = "input()";
    let mut on_a = None;
    for attempt in 0..20 {
        let id = format!("w{attempt}");
        let (node, _) = fleet
            .place(Some("python"), &Request::Run(python_run(&id, waiting)))
            .await
            .expect("placed");
        if node == a.id {
            on_a = Some(id);
            break;
        }
        fleet
            .call(
                &node,
                &Request::Forget {
                    owner: OWNER.into(),
                    run: id,
                },
            )
            .await
            .expect("forget");
    }
    let on_a = on_a.expect("placement spreads runs over both idle nodes");
    let follow = run_follow(&on_a, 0);
    let mut follower = fleet.follow(&a.id, follow).await.expect("follow");
    let first = tokio::time::timeout(PATIENCE, follower.next_batch())
        .await
        .expect("started");
    assert!(matches!(first, Some(Ok(_))), "{first:?}");

    // The node's spawner, sandboxes and the program waiting in one.
    let held = descendants_of(a.pid());
    assert!(
        held.len() >= 2,
        "a spawner and a sandboxed program: {held:?}"
    );
    a.kill();
    let (_, fault) = drain(&mut follower).await;
    let fault = fault.expect("the follower ends with a fault");
    assert_eq!(fault.kind, FaultKind::Unavailable, "{fault:?}");
    assert!(fault.message.contains("node-a"), "{fault:?}");
    let gone = tokio::time::timeout(PATIENCE, lost.recv())
        .await
        .expect("lost")
        .expect("lost");
    assert_eq!(gone.node, "node-a");
    assert!(fleet.nodes().iter().all(|node| node.id != "node-a"));

    // Nothing of the killed node is left: its spawner and every sandbox die with it.
    tokio::time::timeout(PATIENCE, async {
        while held
            .iter()
            .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "left behind: {:?}",
            held.iter()
                .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
                .collect::<Vec<_>>()
        )
    });

    // New work goes to the node that is left, and runs.
    let mut run = python_run("after", "print('still here')");
    run.close_stdin = true;
    let (node, _) = fleet
        .place(Some("python"), &Request::Run(run))
        .await
        .expect("placed");
    assert_eq!(node, b.id);
    let follow = run_follow("after", 0);
    let (events, _) = drain(&mut fleet.follow(&node, follow).await.expect("follow")).await;
    assert_eq!(run_stdout(&events), b"still here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_takes_no_new_work_finishes_what_it_holds_and_exits() {
    let nats = Nats::start();
    let a = NodeProcess::start(&nats, "node-a", &[]);
    let fleet = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&fleet, &[&a.id]).await;
    let (node, _) = fleet
        .place(
            Some("python"),
            &Request::Run(python_run("held", "print(input())")),
        )
        .await
        .expect("placed");
    assert_eq!(node, a.id);
    let follow = run_follow("held", 0);
    let mut follower = fleet.follow(&node, follow).await.expect("follow");

    a.terminate();
    tokio::time::timeout(
        PATIENCE,
        fleet.wait_for(|nodes| nodes.iter().any(|n| n.draining)),
    )
    .await
    .expect("the heartbeat says draining");
    let b = NodeProcess::start(&nats, "node-b", &[]);
    wait_for_nodes(&fleet, &[&b.id]).await;
    let mut fresh = python_run("fresh", "print(1)");
    fresh.close_stdin = true;
    let (placed, _) = fleet
        .place(Some("python"), &Request::Run(fresh))
        .await
        .expect("placed");
    assert_eq!(placed, b.id, "a draining node gets no new work");
    // Asked directly, it refuses by name.
    let direct = fleet
        .call(&a.id, &Request::Run(python_run("direct", "print(1)")))
        .await;
    let refused = direct.expect_err("refused");
    assert_eq!(refused.kind, FaultKind::Unavailable);
    assert!(refused.message.contains("draining"), "{refused:?}");

    // What it holds finishes, and then it exits by itself, cleanly.
    assert_eq!(
        fleet.call(&a.id, &stdin("held", "done\n", 1)).await,
        Ok(Reply::Done)
    );
    let (events, fault) = drain(&mut follower).await;
    assert_eq!(fault, None);
    assert_eq!(run_stdout(&events), b"done\n");
    assert_eq!(run_status(&events), Some(RunStatus::Ok));
    let status = tokio::task::spawn_blocking(move || a.wait())
        .await
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_comes_back_with_what_it_held_when_the_bus_restarts() {
    let mut nats = Nats::start();
    let a = NodeProcess::start(&nats, "node-a", &[]);
    let before = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&before, &[&a.id]).await;
    let incarnation = before.incarnation(&a.id).expect("known");
    let run = python_run("held", "print(input()[::-1])");
    let (node, _) = before
        .place(Some("python"), &Request::Run(run))
        .await
        .expect("placed");
    drop(before);

    nats.restart();
    // A gateway on the new server learns of the node once the node has reconnected.
    let after = gateway(&nats, FleetOptions::default()).await;
    wait_for_nodes(&after, &[&a.id]).await;
    assert_eq!(
        after.incarnation(&a.id),
        Some(incarnation),
        "the node itself did not restart"
    );
    let found = after.locate(OWNER, &LogId::Run("held".into())).await;
    assert_eq!(
        found.as_deref(),
        Some(node.as_str()),
        "the run outlived the bus"
    );
    assert_eq!(
        after.call(&node, &stdin("held", "sub\n", 1)).await,
        Ok(Reply::Done)
    );
    let mut follower = after
        .follow(&node, run_follow("held", 0))
        .await
        .expect("follow");
    let (events, fault) = drain(&mut follower).await;
    assert_eq!(fault, None);
    assert_eq!(run_stdout(&events), b"bus\n");
    assert_eq!(run_status(&events), Some(RunStatus::Ok));
}
