//! Slow compilers kept warm: with Kotlin and Scala in the warm pool, a compile goes to a
//! compiler already loaded in a sandbox of its own. Programs compile and run as with a cold
//! compiler, errors are `compile_error` with the compiler's message, and a cache hit stops the
//! unused compiler before the program runs in its sandbox.
mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// The `runnel_pool_*` sample for `language` in `/metrics`.
async fn pool_metric(server: &Server, name: &str, language: &str) -> u64 {
    let metrics = metrics_text(server).await;
    let prefix = format!("{name}{{language=\"{language}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse().expect("a number"))
}

async fn wait_for_warm_compiler(server: &Server, language: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while pool_metric(server, "runnel_pool_ready", language).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the warm pool never got a {language} compiler ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run(socket: &mut Socket, language: &str, code: &str, stdin: &str) -> Value {
    run_once(
        socket,
        json!({"action": "execute", "language": language, "code": code, "stdin": stdin}),
    )
    .await
}

/// Per language: a greeting program reading a line, a program with an unknown name, and the
/// words the compiler's message must contain.
const CASES: &[(&str, &str, &str, &[&str])] = &[
    (
        "kotlin",
        "fun main() { val name = readLine() ?: \"nobody\"; println(\"Hello, $name!\") }",
        "fun main() { println(undefinedName) }",
        &["unresolved reference", "undefinedName"],
    ),
    (
        "scala",
        "object Greeter { def main(args: Array[String]): Unit = {\n  val name = Option(scala.io.StdIn.readLine()).getOrElse(\"nobody\")\n  println(s\"Hello, $name!\")\n} }",
        "object Main { def main(args: Array[String]): Unit = println(undefinedName) }",
        &["not found", "undefinedName"],
    ),
];

#[tokio::test]
async fn slow_compilers_compile_in_a_warm_compiler_from_the_pool() {
    let server = Server::start(&["--pool-languages", "kotlin,scala", "--pool-size", "1"]);
    let mut socket = connect(&server).await;
    for (language, greeter, broken, message) in CASES {
        wait_for_warm_compiler(&server, language).await;
        let result = run(&mut socket, language, greeter, "").await;
        assert_eq!(
            (result["status"].as_str(), result["stdout"].as_str()),
            (Some("ok"), Some("Hello, nobody!\n")),
            "{language}: {result}"
        );
        assert_eq!(result["cached"], false, "{language}: {result}");
        assert_eq!(
            pool_metric(&server, "runnel_pool_taken_total", language).await,
            1
        );

        // A compile error from the warm compiler names the problem, as the compiler does.
        wait_for_warm_compiler(&server, language).await;
        let result = run(&mut socket, language, broken, "").await;
        assert_eq!(result["status"], "compile_error", "{language}: {result}");
        let output = result["compile_output"].as_str().expect("compile output");
        assert!(
            message.iter().all(|word| output.contains(word)),
            "{language}: {result}"
        );

        // A program compiled before comes from the cache: the warm compiler is stopped unused,
        // and the program still runs with stdin, in the run's own limits.
        wait_for_warm_compiler(&server, language).await;
        let result = run(&mut socket, language, greeter, "Ada\n").await;
        assert_eq!(
            (result["status"].as_str(), result["stdout"].as_str()),
            (Some("ok"), Some("Hello, Ada!\n")),
            "{language}: {result}"
        );
        assert_eq!(result["cached"], true, "{language}: {result}");
        assert_eq!(
            pool_metric(&server, "runnel_pool_taken_total", language).await,
            3
        );
    }
}
