//! Every value a client may send for a limit either works or gets a named error, never an
//! engine fault (issue 11, item 4): a table of edge values for each limit, for an interpreted
//! and a compiled language, over HTTP, on `/ws` and for sessions. `limits.pids: 1` used to
//! fail inside the engine (the sandbox's own init took the only slot), and `"limits": [1]` was
//! taken as `{wall_ms: 1}`. The smallest limits are raised to each language's floors for
//! its runtime too (`-Xmx`, V8's heap): the `floors` check of `conformance.rs` runs every
//! language so.

mod common;

use common::{connect, connect_plain, recv, run_once, Server};
use serde_json::{json, Value};

const C_PROGRAM: &str = "#include <stdio.h>\nint main(void) { puts(\"c\"); return 0; }\n";

/// What a row must come to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A run with this status.
    Status(&'static str),
    /// A run that may end either way (a 1 ms wall limit may or may not be met).
    Either(&'static str, &'static str),
    /// `400 bad_request`, the message naming the field.
    Refused,
}

async fn execute(server: &Server, language: &str, code: &str, limits: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.http_url("/api/v1/execute"))
        .bearer_auth(&server.key)
        .json(&json!({"language": language, "code": code, "limits": limits}))
        .timeout(common::PATIENCE)
        .send()
        .await
        .expect("execute");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Create a session over HTTP with `body`, with `key`; its id.
async fn create_session(server: &Server, key: &str, body: &Value) -> String {
    let created = reqwest::Client::new()
        .post(server.http_url("/api/v1/sessions"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("create session");
    assert_eq!(created.status(), 201, "{body}");
    let session: Value = created.json().await.expect("json");
    session["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_value_runs_or_gets_a_named_error() {
    let server = Server::start(&[]);
    let big = json!(u64::MAX);
    let rows: Vec<(&str, Value, Expect)> = vec![
        ("wall_ms", json!(0), Expect::Refused),
        ("wall_ms", json!(1), Expect::Either("ok", "timeout")),
        ("wall_ms", json!(60_001), Expect::Status("ok")),
        ("wall_ms", big.clone(), Expect::Status("ok")),
        ("wall_ms", json!(-1), Expect::Refused),
        ("wall_ms", json!(1.5), Expect::Refused),
        ("wall_ms", json!("10"), Expect::Refused),
        ("wall_ms", json!([1]), Expect::Refused),
        ("cpu_ms", json!(0), Expect::Refused),
        ("cpu_ms", json!(1), Expect::Either("ok", "cpu_limit")),
        ("cpu_ms", big.clone(), Expect::Status("ok")),
        ("memory_mb", json!(0), Expect::Refused),
        ("memory_mb", json!(1), Expect::Status("ok")),
        ("memory_mb", json!(4097), Expect::Status("ok")),
        ("memory_mb", json!(1_u64 << 40), Expect::Status("ok")),
        ("pids", json!(0), Expect::Refused),
        ("pids", json!(1), Expect::Status("ok")),
        ("pids", json!(2), Expect::Status("ok")),
        ("pids", json!(257), Expect::Status("ok")),
        ("pids", json!(u32::MAX), Expect::Status("ok")),
        ("pids", json!(1_u64 << 32), Expect::Refused),
        ("output_bytes", json!(0), Expect::Refused),
        ("output_bytes", json!(1), Expect::Status("output_limit")),
        ("output_bytes", big, Expect::Status("ok")),
    ];
    for (field, value, expect) in rows {
        for (language, code) in [("python", "print(1)"), ("c", C_PROGRAM)] {
            let limits = json!({ field: value });
            let (status, body) = execute(&server, language, code, &limits).await;
            let row = format!("{language} limits.{field} = {value}: {status} {body}");
            match expect {
                Expect::Refused => {
                    assert_eq!(status, 400, "{row}");
                    assert_eq!(body["error"], "bad_request", "{row}");
                }
                Expect::Status(wanted) => {
                    assert_eq!(status, 200, "{row}");
                    assert_eq!(body["status"], wanted, "{row}");
                }
                Expect::Either(one, other) => {
                    assert_eq!(status, 200, "{row}");
                    assert!(body["status"] == one || body["status"] == other, "{row}");
                }
            }
        }
    }

    // The whole `limits` must be an object of the known fields, over HTTP and on the socket.
    for limits in [
        json!([1]),
        json!([1, 2, 3]),
        json!("wall_ms"),
        json!(5),
        json!({"wall_ms": 1000, "walltime": 5}),
    ] {
        let (status, body) = execute(&server, "python", "print(1)", &limits).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("bad_request")),
            "{limits}: {body}"
        );
    }
    let mut socket = connect(&server).await;
    let answer = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": "print(1)", "limits": [1]}),
    )
    .await;
    assert_eq!(answer["code"], "bad_request", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|message| message.contains("an object of limits")),
        "{answer}"
    );

    // A session with the smallest limits works, cell after cell: node's heap setting
    // (`--max-old-space-size`) gets the raised figure too, not 1 MiB.
    for (language, cells) in [
        ("python", ["x = 1", "print(x + 1)"]),
        ("javascript", ["var x = 1;", "console.log(x + 1);"]),
    ] {
        let body = json!({"language": language, "limits": {"pids": 1, "memory_mb": 1}});
        let id = &create_session(&server, &server.key, &body).await;
        let mut last = Value::Null;
        for cell in cells {
            last = common::session_execute_http(&server, &server.key, id, cell).await;
            assert_eq!(last["status"], "ok", "{language} {cell}: {last}");
        }
        assert_eq!(last["stdout"], "2\n", "{language}: {last}");
    }
}

/// Limits past what the clock can hold, on a key with no maximums, run (a century is as good
/// as forever); they used to overflow the run's deadline, a panic answered `internal_error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_past_the_clock_run_on_a_key_without_maximums() {
    let server = Server::start(&[]);
    let unbounded = server.create_key(&["--max-wall-ms", "0"]);
    for body in [
        json!({"language": "python", "code": "print(1)", "timeout": 1e300}),
        json!({"language": "python", "code": "print(1)", "timeout": f64::MAX}),
        json!({"language": "c", "code": C_PROGRAM, "limits": {"wall_ms": u64::MAX, "cpu_ms": u64::MAX}}),
    ] {
        let response = reqwest::Client::new()
            .post(server.http_url("/api/v1/execute"))
            .bearer_auth(&unbounded)
            .json(&body)
            .timeout(common::PATIENCE)
            .send()
            .await
            .expect("execute");
        assert_eq!(response.status(), 200, "{body}");
        let result: Value = response.json().await.expect("json");
        assert_eq!(result["status"], "ok", "{body}: {result}");
    }
    let body = json!({"language": "python", "limits": {"wall_ms": u64::MAX}});
    let id = &create_session(&server, &unbounded, &body).await;
    let result = common::session_execute_http(&server, &unbounded, id, "print(6 * 7)").await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["stdout"], "42\n", "{result}");
}

/// Output the program wrote just before it exited is counted against `output_bytes` even when
/// the exit is seen first: `puts("hi")` with a 1-byte limit used to come back `ok`, cut, with
/// `truncated: false`, about one run in six.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_read_after_the_exit_still_counts_against_the_limit() {
    let server = Server::start(&[]);
    let program = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n";
    for round in 0..24 {
        let (language, code) = if round % 2 == 0 {
            ("c", program)
        } else {
            ("python", "print('hi')")
        };
        let (status, body) = execute(&server, language, code, &json!({"output_bytes": 1})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["status"].as_str(),
                body["truncated"].as_bool(),
                body["stdout"].as_str()
            ),
            (Some("output_limit"), Some(true), Some("h")),
            "round {round}, {language}: {body}"
        );
    }
}

/// A start that finds every process slot taken is the program's doing, named as such: a
/// terminal in a `pids: 1` session whose interpreter holds the only slot is refused with the
/// limit named, and the session goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_with_no_process_slot_left_names_the_limit() {
    let server = Server::start(&[]);
    let body = json!({"language": "python", "limits": {"pids": 1}});
    let id = &create_session(&server, &server.key, &body).await;
    let first = common::session_execute_http(&server, &server.key, id, "x = 41").await;
    assert_eq!(first["status"], "ok", "{first}");
    let url = format!(
        "ws://{}/stream/session/{id}/pty?app=shell&api_key={}",
        server.address, server.key
    );
    let mut terminal = connect_plain(&url).await;
    let refused = recv(&mut terminal).await;
    assert_eq!(refused["type"], "error", "{refused}");
    let message = refused["data"].as_str().unwrap_or_default();
    assert!(
        message.contains("cannot start `shell`") && message.contains("process limit"),
        "{refused}"
    );
    let after = common::session_execute_http(&server, &server.key, id, "print(x + 1)").await;
    assert_eq!(
        (after["status"].as_str(), after["stdout"].as_str()),
        (Some("ok"), Some("42\n")),
        "{after}"
    );
}
