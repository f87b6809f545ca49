//! Where a server message goes: to a run (by id), to a waiting ping, or to the connection.

use runnel_protocol::ServerMessage;

/// The destination of one server message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// An event of run `id`; `terminal` when it is the run's last (`result`, `exit`, `error`).
    Run { id: &'a str, terminal: bool },
    /// A `pong`, with the `t` of its `ping` when it is one of ours.
    Pong(Option<u64>),
    /// About the connection itself (an error without a run id, session events).
    Connection,
}

/// Routes a server message.
pub(crate) fn route(message: &ServerMessage) -> Route<'_> {
    fn run(id: &str, terminal: bool) -> Route<'_> {
        Route::Run { id, terminal }
    }
    match message {
        ServerMessage::Result(result) => run(&result.id, true),
        ServerMessage::Started(started) => run(&started.id, false),
        ServerMessage::Stdout(chunk) | ServerMessage::Stderr(chunk) => run(&chunk.id, false),
        ServerMessage::InputRequest(request) => run(&request.id, false),
        ServerMessage::Exit(exit) => run(&exit.id, true),
        ServerMessage::Resumed(resumed) => run(&resumed.id, false),
        ServerMessage::Error(error) => match &error.id {
            Some(id) => run(id, true),
            None => Route::Connection,
        },
        ServerMessage::Pong(pong) => {
            Route::Pong(pong.t.as_ref().and_then(serde_json::Value::as_u64))
        }
        ServerMessage::Session(_) => Route::Connection,
    }
}

/// The event's sequence number, when it has one.
pub(crate) fn seq(message: &ServerMessage) -> Option<u64> {
    match message {
        ServerMessage::Started(started) => Some(started.seq),
        ServerMessage::Stdout(chunk) | ServerMessage::Stderr(chunk) => Some(chunk.seq),
        ServerMessage::InputRequest(request) => Some(request.seq),
        ServerMessage::Exit(exit) => Some(exit.seq),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> ServerMessage {
        serde_json::from_str(json).expect(json)
    }

    #[test]
    fn routes_by_run_id_and_marks_terminal_events() {
        let stdout = parse(r#"{"type":"stdout","id":"r1","data":"hi\n","seq":2}"#);
        assert_eq!(
            route(&stdout),
            Route::Run {
                id: "r1",
                terminal: false
            }
        );
        assert_eq!(seq(&stdout), Some(2));
        let exit = parse(
            r#"{"type":"exit","id":"r1","exit_code":0,"signal":null,"status":"ok",
                "execution_time":1.5,"cpu_time":1.0,"memory":0,"seq":3}"#,
        );
        assert_eq!(
            route(&exit),
            Route::Run {
                id: "r1",
                terminal: true
            }
        );
        let error = parse(r#"{"type":"error","code":"unknown_language","message":"x","id":"r2"}"#);
        assert_eq!(
            route(&error),
            Route::Run {
                id: "r2",
                terminal: true
            }
        );
        assert_eq!(error.kind(), "error");
    }

    #[test]
    fn pongs_and_connection_errors() {
        let pong = parse(r#"{"type":"pong","t":7,"server_time":1.0}"#);
        assert_eq!(route(&pong), Route::Pong(Some(7)));
        let foreign = parse(r#"{"type":"pong","t":"abc","server_time":1.0}"#);
        assert_eq!(route(&foreign), Route::Pong(None));
        let error = parse(r#"{"type":"error","code":"unauthorized","message":"bad key"}"#);
        assert_eq!(route(&error), Route::Connection);
    }
}
