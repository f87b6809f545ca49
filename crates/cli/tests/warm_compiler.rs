//! Slow compilers kept warm: with Kotlin in the warm pool, a compile goes to a kotlinc already
//! loaded in a sandbox of its own. Programs compile and run as with a cold compiler, errors
//! are `compile_error` with the compiler's message, and a cache hit stops the unused compiler
//! before the program runs in its sandbox.
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The `runnel_pool_*` sample for `language` in `/metrics`.
async fn pool_metric(server: &Server, name: &str, language: &str) -> u64 {
    let metrics = reqwest::get(server.http_url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let prefix = format!("{name}{{language=\"{language}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse().expect("a number"))
}

async fn wait_for_warm_kotlinc(server: &Server) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while pool_metric(server, "runnel_pool_ready", "kotlin").await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the warm pool never got a kotlinc ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn kotlin(socket: &mut Socket, code: &str) -> Value {
    run_once(
        socket,
        json!({"action": "execute", "language": "kotlin", "code": code}),
    )
    .await
}

#[tokio::test]
async fn kotlin_compiles_in_a_warm_kotlinc_from_the_pool() {
    let server = Server::start(&["--pool-languages", "kotlin", "--pool-size", "1"]);
    let mut socket = connect(&server).await;

    wait_for_warm_kotlinc(&server).await;
    let result = kotlin(
        &mut socket,
        "fun main() { val name = readLine() ?: \"nobody\"; println(\"Hello, $name!\") }",
    )
    .await;
    assert_eq!(
        (result["status"].as_str(), result["stdout"].as_str()),
        (Some("ok"), Some("Hello, nobody!\n")),
        "{result}"
    );
    assert_eq!(result["cached"], false, "{result}");
    assert_eq!(
        pool_metric(&server, "runnel_pool_taken_total", "kotlin").await,
        1
    );

    // A compile error from the warm compiler names the problem, like kotlinc does.
    wait_for_warm_kotlinc(&server).await;
    let result = kotlin(&mut socket, "fun main() { println(undefinedName) }").await;
    assert_eq!(result["status"], "compile_error", "{result}");
    let output = result["compile_output"].as_str().expect("compile output");
    assert!(
        output.contains("unresolved reference") && output.contains("undefinedName"),
        "{result}"
    );

    // A program compiled before comes from the cache: the warm compiler is stopped unused, and
    // the program still runs with stdin, in the run's own limits.
    wait_for_warm_kotlinc(&server).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "kotlin", "stdin": "Ada\n",
               "code": "fun main() { val name = readLine() ?: \"nobody\"; println(\"Hello, $name!\") }"}),
    )
    .await;
    assert_eq!(
        (result["status"].as_str(), result["stdout"].as_str()),
        (Some("ok"), Some("Hello, Ada!\n")),
        "{result}"
    );
    assert_eq!(result["cached"], true, "{result}");
    assert_eq!(
        pool_metric(&server, "runnel_pool_taken_total", "kotlin").await,
        3
    );
}
