//! Basic life cycle: create, run, read output, destroy.
mod common;
use common::*;
use std::time::Duration;

#[tokio::test]
async fn hello() {
    let spawner = spawner().await;
    println!("{:?}", spawner.capabilities());
    let sandbox = spawner.create(&spec()).await.expect("create");
    let ran = bash(&sandbox, "echo hi; echo err >&2; id; hostname; ls /; cat /proc/self/status | grep -E 'Cap|NoNew|Seccomp'; exit 3").await;
    println!(
        "stdout: {}\nstderr: {}\n{:?}",
        ran.stdout, ran.stderr, ran.outcome
    );
    assert_eq!(ran.outcome.exit_code, Some(3));
    let ran = run(
        &sandbox,
        &cmd(&["/usr/bin/python3", "-I", "-S", "-c", "print('hi')"]),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(ran.stdout, "hi\n");
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}
