//! Input requests in sessions: a read of stdin asks the client (`input_request`), and the
//! client's `stdin` answers it, in Python and in the other drivers that hook their reads.

mod common;

use common::session::{close_session, collect, create_session, exit, text};
use common::{connect, recv, send, Server};
use serde_json::json;

#[tokio::test]
async fn input_asks_the_client_and_the_reply_answers_it() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "q", "stream": true, "code": "print('ready')\nname = input('who? ')\nprint('hi', name)"}),
    )
    .await;
    let mut before = String::new();
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "stdout" {
            before.push_str(message["data"].as_str().expect("data"));
        }
        if message["type"] == "input_request" {
            assert_eq!(
                before, "ready\n",
                "output before input() comes before the request"
            );
            assert_eq!(message["prompt"], "who? ");
            assert_eq!(message["id"], "q");
            break;
        }
    }
    send(
        &mut socket,
        json!({"action": "stdin", "id": "q", "data": "ada\n"}),
    )
    .await;
    let events = collect(&mut socket, "q").await;
    assert_eq!(text(&events, "stdout"), "hi ada\n", "{events:?}");
    assert_eq!(exit(&events)["status"], "ok");
}

/// Input asks the client in the drivers that hook their language's stdin reads.
#[tokio::test]
async fn input_asks_the_client_in_the_other_drivers() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let cases = [
        (
            "elixir",
            "name = IO.gets(\"who? \")\nIO.write(\"hi #{name}\")",
            "who? ",
        ),
        (
            "java",
            "var r = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));\n\
             System.out.println(\"hi \" + r.readLine());",
            "",
        ),
        (
            "prolog",
            ":- read_line_to_string(user_input, L), format(\"hi ~w~n\", [L]).",
            "",
        ),
    ];
    for (language, code, prompt) in cases {
        let session = create_session(&mut socket, language).await;
        let id = format!("{language}-in");
        send(
            &mut socket,
            json!({"action": "execute", "session": session, "id": id, "stream": true, "code": code}),
        )
        .await;
        loop {
            let message = recv(&mut socket).await;
            if message["type"] == "input_request" && message["id"] == id.as_str() {
                assert_eq!(message["prompt"], prompt, "{language}: {message}");
                break;
            }
        }
        send(
            &mut socket,
            json!({"action": "stdin", "id": id, "data": "ada\n"}),
        )
        .await;
        let events = collect(&mut socket, &id).await;
        assert_eq!(
            text(&events, "stdout"),
            "hi ada\n",
            "{language}: {events:?}"
        );
        assert_eq!(exit(&events)["status"], "ok", "{language}");
        close_session(&mut socket, &session).await;
    }
}
