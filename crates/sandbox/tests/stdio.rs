//! Stdio of commands: pipes kept apart, stdin, extra pipes, PTY (isatty, size, SIGWINCH),
//! exact environment, identity and confinement status.
mod common;

use std::time::Duration;

use common::*;
use runnel_sandbox::{ExtraEnd, ExtraPipe, StdioMode};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn stdout_and_stderr_are_apart() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let ran = bash(&sandbox, "echo out; echo err >&2; echo out2").await;
    assert_eq!(ran.stdout, "out\nout2\n");
    assert_eq!(ran.stderr, "err\n");
    assert_eq!(ran.outcome.exit_code, Some(0));
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn stdin_is_piped() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let mut process = sandbox.start(&cmd(&["/bin/cat"])).await.expect("start");
    let mut stdin = process.stdin.take().expect("stdin");
    stdin
        .write_all(b"hello through stdin\n")
        .await
        .expect("write");
    drop(stdin);
    let ran = collect(process, Duration::from_secs(5)).await;
    assert_eq!(ran.stdout, "hello through stdin\n");
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn extra_pipes_are_fds_3_and_4() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let mut command = sh("read line <&3; echo \"got $line\" >&4");
    command.extra_pipes = vec![ExtraPipe::Read, ExtraPipe::Write];
    let mut process = sandbox.start(&command).await.expect("start");
    let mut extra = std::mem::take(&mut process.extra).into_iter();
    let (Some(ExtraEnd::Sender(mut to_cmd)), Some(ExtraEnd::Receiver(mut from_cmd))) =
        (extra.next(), extra.next())
    else {
        panic!("wrong extra ends");
    };
    to_cmd.write_all(b"ping\n").await.expect("write fd 3");
    let mut reply = String::new();
    from_cmd
        .read_to_string(&mut reply)
        .await
        .expect("read fd 4");
    assert_eq!(reply, "got ping\n");
    let outcome = process
        .wait(Some(tokio::time::Instant::now() + Duration::from_secs(5)))
        .await
        .expect("wait");
    assert_eq!(outcome.exit_code, Some(0));
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn environment_is_exactly_what_was_given() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let mut command = cmd(&["/usr/bin/env"]);
    command.env = vec![("A".into(), "1".into()), ("LANG".into(), "C.UTF-8".into())];
    let ran = run(&sandbox, &command, Duration::from_secs(5)).await;
    assert_eq!(ran.stdout, "A=1\nLANG=C.UTF-8\n");
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn identity_and_confinement() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let ran = bash(&sandbox, "id -u; id -g; hostname; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; ls /sys 2>&1 | head -1; cat /etc/hosts").await;
    let out = &ran.stdout;
    assert!(out.starts_with("1000\n1000\nsandbox\n"), "{out}");
    assert!(out.contains("CapEff:\t0000000000000000"), "{out}");
    assert!(out.contains("CapPrm:\t0000000000000000"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000000000"), "{out}");
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("127.0.0.1 localhost sandbox"), "{out}");
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn two_commands_side_by_side() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let repl = sandbox
        .start(&cmd(&["/bin/cat"]))
        .await
        .expect("start repl");
    let other = sandbox
        .start(&sh("echo second"))
        .await
        .expect("start second");
    let second = collect(other, Duration::from_secs(5)).await;
    assert_eq!(second.stdout, "second\n");
    let mut repl = repl;
    let mut stdin = repl.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(repl.stdout.take().expect("stdout"));
    stdin.write_all(b"echo\n").await.expect("write");
    let mut line = String::new();
    stdout.read_line(&mut line).await.expect("read");
    assert_eq!(line, "echo\n");
    repl.signal(libc::SIGTERM).expect("signal");
    let outcome = repl
        .wait(Some(tokio::time::Instant::now() + Duration::from_secs(5)))
        .await
        .expect("wait");
    assert_eq!(outcome.signal, Some(libc::SIGTERM));
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn start_errors_are_reported() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let err = sandbox
        .start(&cmd(&["/nonexistent"]))
        .await
        .expect_err("missing program");
    assert!(err.to_string().contains("execve /nonexistent"), "{err}");
    let err = sandbox
        .start(&cmd(&["relative"]))
        .await
        .expect_err("relative program");
    assert!(err.to_string().contains("absolute"), "{err}");
    let mut command = cmd(&["/bin/true"]);
    command.cwd = "/nope".into();
    let err = sandbox.start(&command).await.expect_err("bad cwd");
    assert!(err.to_string().contains("chdir /nope"), "{err}");
    assert_eq!(bash(&sandbox, "echo fine").await.stdout, "fine\n");
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

/// Reads from the pty until `needle` shows up (or fails after a few seconds).
async fn read_until(pty: &mut runnel_sandbox::PtyMaster, seen: &mut String, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let n = tokio::time::timeout_at(deadline, pty.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {needle:?}; got {seen:?}"))
            .expect("pty read");
        assert!(n > 0, "pty closed before {needle:?}; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[tokio::test]
async fn pty_is_a_terminal_with_size_and_sigwinch() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let mut command = sh("python3=/usr/bin/python3; $python3 -c 'import os; print(\"tty\", os.isatty(0), os.isatty(1), os.ttyname(0))'; echo size $(stty size); trap 'echo winch $(stty size)' WINCH; echo ready; while :; do sleep 0.05; done");
    command.stdio = StdioMode::Pty { rows: 24, cols: 80 };
    let mut process = sandbox.start(&command).await.expect("start");
    let mut pty = process.pty.take().expect("pty");
    let mut seen = String::new();
    read_until(&mut pty, &mut seen, "ready").await;
    assert!(seen.contains("tty True True /dev/pts/0"), "{seen}");
    assert!(seen.contains("size 24 80"), "{seen}");
    pty.resize(50, 132).expect("resize");
    read_until(&mut pty, &mut seen, "winch 50 132").await;
    // Typing into the terminal reaches the program.
    pty.write_all(b"\x03").await.expect("ctrl-c");
    let outcome = process
        .wait(Some(tokio::time::Instant::now() + Duration::from_secs(5)))
        .await
        .expect("wait");
    assert_eq!(outcome.signal, Some(libc::SIGINT), "{outcome:?}");
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}
