//! SIGINT in sessions: it interrupts the running cell and the state lives on, in every driver
//! that takes it; an interpreter that ends on it is reported, and the next cell starts fresh.

mod common;

use common::session::{close_session, collect, create_session, execute, exit, start_looping, text};
use common::{connect, recv, send, Server};
use serde_json::{json, Value};

#[tokio::test]
async fn sigint_interrupts_a_cell_and_state_lives_on() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    execute(&mut socket, &session, "a", "x = 42").await;
    start_looping(
        &mut socket,
        &session,
        "loop",
        "import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.01)",
    )
    .await;
    send(
        &mut socket,
        json!({"action": "signal", "id": "loop", "signal": "SIGINT"}),
    )
    .await;
    let events = collect(&mut socket, "loop").await;
    assert!(
        text(&events, "stderr").contains("KeyboardInterrupt"),
        "{events:?}"
    );
    assert_eq!(exit(&events)["message"], "KeyboardInterrupt");
    let after = execute(&mut socket, &session, "b", "print(x)").await;
    assert_eq!(text(&after, "stdout"), "42\n");
}

/// SIGINT through the real sandbox in every driver that takes it (each has its own way: BEAM
/// through a shell wrapper, GHCi under a Python wrapper, node's watchdog, lua5.4 which takes one
/// SIGINT only, bash whose loops of builtins go on after a trap, TclX for Tcl, ...). The
/// client sends a burst of signals, as a user pressing Ctrl-C again and again does: the cell
/// ends once, and the next cell runs untouched by the rest.
#[tokio::test]
async fn sigint_interrupts_a_cell_in_the_other_drivers() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let cases = [
        (
            "javascript",
            "let x = 42",
            "console.log('looping'); while (true) {}",
            "console.log(x)",
        ),
        (
            "lua",
            "x = 42",
            "print('looping'); io.stdout:flush(); while true do end",
            "print(x)",
        ),
        ("bash", "x=42", "echo looping; while :; do :; done", "echo $x"),
        ("bash", "x=42", "echo looping; sleep 600", "echo $x"),
        (
            "python",
            "x = 42",
            "print('looping', flush=True)\nwhile True:\n    pass",
            "print(x)",
        ),
        (
            "ruby",
            "x = 42",
            "puts 'looping'; $stdout.flush; loop {}",
            "puts x",
        ),
        (
            "php",
            "$x = 42;",
            "echo \"looping\\n\"; while (true) {}",
            "echo $x, \"\\n\";",
        ),
        (
            "perl",
            "our $x = 42;",
            "$| = 1; print \"looping\\n\"; while (1) {}",
            "print $x, \"\\n\";",
        ),
        (
            "r",
            "x <- 42",
            "cat('looping\\n'); repeat {}",
            "cat(x, \"\\n\", sep = \"\")",
        ),
        (
            "tcl",
            "set x 42",
            "puts looping; flush stdout; while 1 {}",
            "puts $x",
        ),
        (
            "scheme",
            "(define x 42)",
            "(display \"looping\")\n(newline)\n(let spin () (spin))",
            "(display x)\n(newline)",
        ),
        (
            "commonlisp",
            "(defvar *x* 42)",
            "(format t \"looping~%\")\n(finish-output)\n(loop)",
            "(format t \"~A~%\" *x*)",
        ),
        (
            "ocaml",
            "let x = 42",
            "let () = print_endline \"looping\"; while true do () done",
            "print_int x; print_newline ()",
        ),
        (
            "erlang",
            "X = 42.\nspin() -> spin().",
            "io:format(\"looping~n\"), spin().",
            "io:format(\"~p~n\", [X]).",
        ),
        (
            "haskell",
            "x = 42",
            "let spin n = if n < (0 :: Int) then n else spin (n + 1)\nputStrLn \"looping\"\nprint (spin 0)",
            "print x",
        ),
        (
            "prolog",
            "x(42).\nspin :- spin.",
            ":- writeln(looping), flush_output, spin.",
            ":- x(X), writeln(X).",
        ),
        (
            "groovy",
            "x = 42",
            "println 'looping'; while (true) { }",
            "println x",
        ),
    ];
    for (case, (language, define, looping, use_it)) in cases.into_iter().enumerate() {
        let session = create_session(&mut socket, language).await;
        let defined = execute(&mut socket, &session, &format!("{case}-a"), define).await;
        assert_eq!(exit(&defined)["status"], "ok", "{language}: {defined:?}");
        let id = format!("{case}-{language}-loop");
        start_looping(&mut socket, &session, &id, looping).await;
        for _ in 0..5 {
            send(
                &mut socket,
                json!({"action": "signal", "id": id, "signal": "SIGINT"}),
            )
            .await;
        }
        // A signal that comes after the cell ended is answered `not_found`; nothing else. The
        // `pong` to a ping sent after the signals comes after all their answers.
        send(&mut socket, json!({"action": "ping"})).await;
        let mut events = Vec::new();
        let mut ponged = false;
        while !ponged
            || events
                .last()
                .is_none_or(|last: &Value| last["type"] != "exit")
        {
            let message = recv(&mut socket).await;
            if message["type"] == "error" {
                assert_eq!(
                    (message["code"].as_str(), message["id"].as_str()),
                    (Some("not_found"), Some(id.as_str())),
                    "{language}: {message}"
                );
            } else if message["type"] == "pong" {
                ponged = true;
            } else if message["id"] == id.as_str() {
                events.push(message);
            }
        }
        assert_eq!(
            (
                exit(&events)["status"].as_str(),
                exit(&events)["message"].as_str()
            ),
            (Some("killed"), Some("KeyboardInterrupt")),
            "{id}: {events:?}"
        );
        let after = execute(&mut socket, &session, &format!("{case}-b"), use_it).await;
        assert_eq!(text(&after, "stdout"), "42\n", "{language}: {after:?}");
        close_session(&mut socket, &session).await;
    }
}

/// SQL's sqlite3 shell ends on SIGINT: the cell says so by name, and the next cell gets a
/// fresh interpreter (its database is gone) instead of an error.
#[tokio::test]
async fn a_sigint_that_ends_the_interpreter_is_reported_and_the_next_cell_starts_fresh() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "sql").await;
    let made = execute(&mut socket, &session, "a", "CREATE TABLE t(x);").await;
    assert_eq!(exit(&made)["status"], "ok", "{made:?}");
    start_looping(
        &mut socket,
        &session,
        "loop",
        "SELECT 'looping';\nWITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c;",
    )
    .await;
    send(
        &mut socket,
        json!({"action": "signal", "id": "loop", "signal": "SIGINT"}),
    )
    .await;
    let events = collect(&mut socket, "loop").await;
    assert_eq!(
        (
            exit(&events)["status"].as_str(),
            exit(&events)["message"].as_str()
        ),
        (
            Some("killed"),
            Some("the interpreter ended on SIGINT; its state was lost")
        ),
        "{events:?}"
    );
    let after = execute(&mut socket, &session, "b", "SELECT count(*) FROM t;").await;
    assert!(
        text(&after, "stderr").contains("no such table"),
        "a fresh database: {after:?}"
    );
    let fresh = execute(&mut socket, &session, "c", "SELECT 6 * 7;").await;
    assert_eq!(text(&fresh, "stdout"), "42\n", "{fresh:?}");
}
