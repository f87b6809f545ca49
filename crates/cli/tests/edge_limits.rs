//! Every value a client may send for a limit either works or gets a named error, never an
//! engine fault (issue 11, item 4): a table of edge values for each limit, for an interpreted
//! and a compiled language, over HTTP, on `/ws` and for sessions. `limits.pids: 1` used to
//! fail inside the engine (the sandbox's own init took the only slot), and `"limits": [1]` was
//! taken as `{wall_ms: 1}`.

mod common;

use common::{connect, run_once, Server};
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

    // The whole `limits` must be an object, over HTTP and on the socket.
    for limits in [json!([1]), json!([1, 2, 3]), json!("wall_ms"), json!(5)] {
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

    // A session with the smallest limits works, cell after cell.
    let created = reqwest::Client::new()
        .post(server.http_url("/api/v1/sessions"))
        .bearer_auth(&server.key)
        .json(&json!({"language": "python", "limits": {"pids": 1, "memory_mb": 1}}))
        .send()
        .await
        .expect("create session");
    assert_eq!(created.status(), 201);
    let session: Value = created.json().await.expect("json");
    let id = session["id"].as_str().expect("id");
    for cell in ["x = 1", "print(x + 1)"] {
        let result = common::session_execute_http(&server, &server.key, id, cell).await;
        assert_eq!(result["status"], "ok", "{cell}: {result}");
    }
}
