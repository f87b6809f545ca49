//! End-to-end: protocol v1 over a real WebSocket against a real server and the real sandbox.

mod common;

use std::sync::OnceLock;

use common::*;
use serde_json::json;

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::start(&["--pool-size", "1"]))
}

#[tokio::test]
async fn non_streamed_run_returns_exactly_one_result() {
    let mut socket = connect(server()).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": "print('hi')\nimport sys; print('err', file=sys.stderr)"}),
    )
    .await;
    assert_eq!(result["type"], "result", "{result}");
    assert_eq!(result["stdout"], "hi\n");
    assert_eq!(result["stderr"], "err\n");
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["status"], "ok");
    assert!(result["execution_time"].is_number(), "{result}");
    // Nothing else follows a non-streamed run: the next message answers our ping.
    send(&mut socket, json!({"action": "ping", "t": 42})).await;
    let pong = recv(&mut socket).await;
    assert_eq!(pong["type"], "pong", "{pong}");
    assert_eq!(pong["t"], 42);
}

#[tokio::test]
async fn streamed_run_sends_started_chunks_and_exit_in_order() {
    let mut socket = connect(server()).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "s1", "language": "py", "stream": true,
               "code": "for i in range(3): print(i)\nimport sys; sys.exit(3)"}),
    )
    .await;
    let messages = collect_run(&mut socket, "s1").await;
    assert_eq!(messages[0]["type"], "started", "{messages:?}");
    let exit = messages.last().expect("exit");
    assert_eq!(exit["type"], "exit");
    assert_eq!(exit["exit_code"], 3);
    assert_eq!(exit["status"], "runtime_error");
    assert_eq!(stream_text(&messages, "stdout"), "0\n1\n2\n");
    let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|pair| pair[0] < pair[1]),
        "seq increases: {seqs:?}"
    );
}

/// The program prints, then blocks on input we have not sent: the line must arrive first.
/// This proves output is streamed as produced (no timing involved).
async fn output_arrives_before_program_ends(language: &str, code: &str, reply: &str) {
    let mut socket = connect(server()).await;
    let id = format!("live-{language}");
    send(
        &mut socket,
        json!({"action": "execute", "id": id, "language": language, "stream": true, "code": code}),
    )
    .await;
    let mut seen = String::new();
    while !seen.contains("ready") {
        let message = recv(&mut socket).await;
        assert_ne!(
            message["type"], "exit",
            "{language}: exited before printing: {message}"
        );
        if message["type"] == "stdout" && message.get("stage").is_none() {
            seen.push_str(message["data"].as_str().unwrap_or_default());
        }
    }
    send(
        &mut socket,
        json!({"action": "stdin", "id": id, "data": reply, "eof": true}),
    )
    .await;
    let messages = collect_run(&mut socket, &id).await;
    let exit = messages.last().expect("exit");
    assert_eq!(exit["status"], "ok", "{language}: {messages:?}");
    let rest = stream_text(&messages, "stdout");
    assert!(rest.contains("Hello, Ada!"), "{language}: got {rest:?}");
}

#[tokio::test]
async fn python_input_streams_without_unbuffered_flag() {
    output_arrives_before_program_ends(
        "python",
        "print('ready')\nname = input()\nprint(f'Hello, {name}!')",
        "Ada\n",
    )
    .await;
}

#[tokio::test]
async fn c_printf_without_fflush_then_scanf() {
    output_arrives_before_program_ends(
        "c",
        "#include <stdio.h>\nint main(void){char n[64];printf(\"ready\\n\");if(scanf(\"%63s\",n)!=1)return 1;printf(\"Hello, %s!\\n\",n);return 0;}",
        "Ada\n",
    )
    .await;
}

#[tokio::test]
async fn node_readline() {
    output_arrives_before_program_ends(
        "javascript",
        "const rl=require('readline').createInterface({input:process.stdin});console.log('ready');rl.on('line',l=>{console.log(`Hello, ${l}!`);rl.close();});",
        "Ada\n",
    )
    .await;
}

#[tokio::test]
async fn stdin_given_up_front() {
    let mut socket = connect(server()).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "stdin": "Grace\n",
               "code": "print('Hello, ' + input() + '!')"}),
    )
    .await;
    assert_eq!(result["stdout"], "Hello, Grace!\n", "{result}");
}

#[tokio::test]
async fn signal_interrupts_a_running_program() {
    let mut socket = connect(server()).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "sig", "language": "python", "stream": true,
               "code": "import time\nprint('ready', flush=True)\nwhile True: time.sleep(0.05)"}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "stdout" {
            break;
        }
    }
    send(
        &mut socket,
        json!({"action": "signal", "id": "sig", "signal": "SIGINT"}),
    )
    .await;
    let messages = collect_run(&mut socket, "sig").await;
    let exit = messages.last().expect("exit");
    assert_eq!(exit["status"], "killed", "{messages:?}");
    assert_eq!(exit["signal"], "SIGINT", "{exit}");
    assert!(stream_text(&messages, "stderr").contains("KeyboardInterrupt"));
}

#[tokio::test]
async fn sigkill_ends_a_run_as_killed() {
    let mut socket = connect(server()).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "k", "language": "bash", "stream": true,
               "code": "echo ready; sleep 600"}),
    )
    .await;
    loop {
        if recv(&mut socket).await["type"] == "stdout" {
            break;
        }
    }
    send(
        &mut socket,
        json!({"action": "signal", "id": "k", "signal": "kill"}),
    )
    .await;
    let exit = collect_run(&mut socket, "k").await.pop().expect("exit");
    assert_eq!(exit["status"], "killed", "{exit}");
    assert_eq!(exit["signal"], "SIGKILL");
}

#[tokio::test]
async fn wall_clock_limit_is_a_timeout() {
    let mut socket = connect(server()).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "limits": {"wall_ms": 1000},
               "code": "while True: pass"}),
    )
    .await;
    assert_eq!(result["status"], "timeout", "{result}");
    assert!(result["exit_code"].is_null());
}

#[tokio::test]
async fn memory_limit_is_named() {
    let mut socket = connect(server()).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "limits": {"memory_mb": 64},
               "code": "x = bytearray(512 * 1024 * 1024)\nprint(len(x))"}),
    )
    .await;
    assert_eq!(result["status"], "memory_limit", "{result}");
}

#[tokio::test]
async fn output_limit_truncates_and_ends_the_run() {
    let mut socket = connect(server()).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "limits": {"output_bytes": 10000},
               "code": "while True: print('x' * 100)"}),
    )
    .await;
    assert_eq!(result["status"], "output_limit", "{result}");
    assert_eq!(result["truncated"], true);
    assert!(result["stdout"].as_str().expect("stdout").len() <= 10000);
}

#[tokio::test]
async fn runtime_error_keeps_stderr() {
    let mut socket = connect(server()).await;
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": "raise ValueError('boom')"}),
    )
    .await;
    assert_eq!(result["status"], "runtime_error", "{result}");
    assert_eq!(result["exit_code"], 1);
    assert!(result["stderr"]
        .as_str()
        .expect("stderr")
        .contains("ValueError: boom"));
}

#[tokio::test]
async fn compile_error_is_reported_with_the_compiler_message() {
    let mut socket = connect(server()).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "ce", "language": "c", "stream": true,
               "code": "int main(void) { return undeclared_name; }"}),
    )
    .await;
    let messages = collect_run(&mut socket, "ce").await;
    let exit = messages.last().expect("exit");
    assert_eq!(exit["status"], "compile_error", "{messages:?}");
    let compiler: String = messages
        .iter()
        .filter(|message| message["stage"] == "compile")
        .map(|message| message["data"].as_str().unwrap_or_default())
        .collect();
    assert!(
        compiler.contains("undeclared_name"),
        "compiler said: {compiler}"
    );
}

#[tokio::test]
async fn the_same_program_is_compiled_once() {
    let mut socket = connect(server()).await;
    let code = format!(
        "#include <stdio.h>\nint main(void){{puts(\"cache {}\");return 0;}}",
        std::process::id()
    );
    let first = run_once(
        &mut socket,
        json!({"action": "execute", "language": "c", "code": code}),
    )
    .await;
    let second = run_once(
        &mut socket,
        json!({"action": "execute", "language": "c", "code": code}),
    )
    .await;
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["cached"], false, "{first}");
    assert_eq!(second["cached"], true, "{second}");
    assert_eq!(first["stdout"], second["stdout"]);
}

#[tokio::test]
async fn every_required_language_says_hello() {
    let programs: [(&str, &str); 9] = [
        ("python", "print('Hello, ' + input() + '!')"),
        ("javascript", "const l=require('fs').readFileSync(0,'utf8').trim();console.log(`Hello, ${l}!`);"),
        ("typescript", "const l: string = require('fs').readFileSync(0,'utf8').trim();\nconsole.log(`Hello, ${l}!`);"),
        ("c", "#include <stdio.h>\nint main(void){char n[64];scanf(\"%63s\",n);printf(\"Hello, %s!\\n\",n);return 0;}"),
        ("cpp", "#include <iostream>\n#include <string>\nint main(){std::string n;std::cin>>n;std::cout<<\"Hello, \"<<n<<\"!\"<<std::endl;}"),
        ("java", "import java.util.Scanner;\npublic class Main{public static void main(String[] a){String n=new Scanner(System.in).nextLine();System.out.println(\"Hello, \"+n+\"!\");}}"),
        ("go", "package main\nimport (\"bufio\";\"fmt\";\"os\";\"strings\")\nfunc main(){r:=bufio.NewReader(os.Stdin);l,_:=r.ReadString('\\n');fmt.Printf(\"Hello, %s!\\n\",strings.TrimSpace(l))}"),
        ("rust", "use std::io::BufRead;\nfn main(){let l=std::io::stdin().lock().lines().next().unwrap().unwrap();println!(\"Hello, {}!\",l.trim());}"),
        ("bash", "read -r name; echo \"Hello, $name!\""),
    ];
    let mut socket = connect(server()).await;
    for (language, code) in programs {
        let result = run_once(
            &mut socket,
            json!({"action": "execute", "language": language, "code": code, "stdin": "Ada\n",
                   "limits": {"wall_ms": 20000}}),
        )
        .await;
        assert_eq!(result["stdout"], "Hello, Ada!\n", "{language}: {result}");
        assert_eq!(result["status"], "ok", "{language}: {result}");
    }
}

#[tokio::test]
async fn malformed_frames_get_named_errors_and_the_connection_stays_up() {
    let mut socket = connect(server()).await;
    let cases: [(&str, &str); 8] = [
        ("this is not json", "bad_request"),
        ("[1, 2, 3]", "bad_request"),
        ("{\"language\": \"python\"}", "bad_request"),
        ("{\"action\": \"self_destruct\"}", "bad_request"),
        ("{\"action\": \"execute\", \"language\": 7}", "bad_request"),
        ("{\"action\": \"stdin\", \"data\": \"x\"}", "bad_request"),
        (
            "{\"action\": \"signal\", \"id\": \"nope\", \"signal\": \"SIGFOO\"}",
            "bad_request",
        ),
        (
            "{\"action\": \"execute\", \"language\": \"brainfudge\", \"code\": \"x\"}",
            "unknown_language",
        ),
    ];
    for (frame, code) in cases {
        send_text(&mut socket, frame).await;
        let reply = recv(&mut socket).await;
        assert_eq!(reply["type"], "error", "{frame}: {reply}");
        assert_eq!(reply["code"], code, "{frame}: {reply}");
        assert!(!reply["message"].as_str().unwrap_or_default().is_empty());
    }
    // Binary frames and oversized frames.
    use futures_util::SinkExt;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1u8, 2, 3].into(),
        ))
        .await
        .expect("send binary");
    assert_eq!(recv(&mut socket).await["code"], "bad_request");
    let huge = json!({"action": "execute", "language": "python", "code": "#".repeat(2 << 20)});
    send(&mut socket, huge).await;
    assert_eq!(recv(&mut socket).await["code"], "payload_too_large");
    // Still up: a real run works on the same socket.
    let result = run_once(
        &mut socket,
        json!({"action": "execute", "language": "python", "code": "print(1)"}),
    )
    .await;
    assert_eq!(result["stdout"], "1\n", "{result}");
}

#[tokio::test]
async fn stdin_for_an_unknown_run_is_not_found() {
    let mut socket = connect(server()).await;
    send(
        &mut socket,
        json!({"action": "stdin", "id": "ghost", "data": "x"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["code"], "not_found", "{reply}");
}

#[tokio::test]
async fn non_utf8_output_arrives_intact() {
    let mut socket = connect(server()).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "bin", "language": "python", "stream": true,
               "code": "import sys\nsys.stdout.buffer.write(bytes([0xff, 0xfe, 0x41]))\nsys.stdout.buffer.write('é→🎉'.encode())"}),
    )
    .await;
    let messages = collect_run(&mut socket, "bin").await;
    use base64::Engine as _;
    let mut bytes = Vec::new();
    for message in messages
        .iter()
        .filter(|message| message["type"] == "stdout")
    {
        let data = message["data"].as_str().expect("data");
        if message["encoding"] == "base64" {
            bytes.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("base64"),
            );
        } else {
            bytes.extend(data.as_bytes());
        }
    }
    let mut expected = vec![0xff, 0xfe, 0x41];
    expected.extend("é→🎉".as_bytes());
    assert_eq!(bytes, expected);
}
