//! What a run holds in the kernel on the host's behalf counts against the run's own limits,
//! tried through the real server and sandbox.
#![allow(clippy::disallowed_methods, missing_docs)]

mod common;

use common::Server;
use serde_json::json;

/// Fills as many TCP buffers on the sandbox's own loopback as the kernel takes: 200
/// connections, each end sending without reading until it would block. Prints the bytes the
/// kernel accepted.
const FILL_SOCKETS: &str = r#"
import socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(256)
port = server.getsockname()[1]
block = b"x" * 65536
held = []
total = 0
try:
    for _ in range(200):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        accepted, _ = server.accept()
        held.append((client, accepted))
        for end in (client, accepted):
            end.setblocking(False)
            while True:
                try:
                    total += end.send(block)
                except OSError:
                    break
except OSError as error:
    print("stopped early:", error)
print(total)
"#;

#[tokio::test]
async fn socket_buffers_count_against_the_memory_limit() {
    let server = Server::start(&[]);
    let memory_mb: u64 = 64;
    let result = common::execute_http(
        &server,
        &server.key,
        json!({"language": "python", "code": FILL_SOCKETS,
               "limits": {"memory_mb": memory_mb, "wall_ms": 60_000}}),
    )
    .await;
    assert_eq!(result["status"], "ok", "{result}");
    let stdout = result["stdout"].as_str().expect("stdout");
    let held: u64 = stdout
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or_else(|| panic!("a byte count last: {stdout:?}"));
    // Data in socket buffers is charged at least its size, so the bytes taken stay under the
    // limit, plus the buffer or two of one packet that the kernel grants each socket past any
    // limit (about 66 KiB per socket here; 128 KiB allowed). Unbounded, the kernel took
    // several hundred MiB.
    let sockets = 400;
    let bound = (memory_mb << 20) + sockets * (128 << 10);
    assert!(
        held < bound,
        "the run's sockets held {} MiB with a {memory_mb} MiB memory limit (bound {} MiB)",
        held >> 20,
        bound >> 20
    );
    assert!(held > 0, "the sockets took nothing: {stdout:?}");
}

/// Tries a socket of each family and prints `family errno` (0: created).
const TRY_FAMILIES: &str = r#"
import socket
for name in ["AF_UNIX", "AF_INET", "AF_INET6", "AF_VSOCK", "AF_NETLINK", "AF_PACKET", "AF_ALG", "AF_BLUETOOTH", "AF_CAN", "AF_RDS", "AF_TIPC"]:
    family = getattr(socket, name)
    kind = socket.SOCK_RAW if name in ("AF_NETLINK", "AF_PACKET", "AF_CAN") else socket.SOCK_STREAM
    if name in ("AF_ALG", "AF_RDS", "AF_TIPC"):
        kind = socket.SOCK_SEQPACKET
    try:
        socket.socket(family, kind).close()
        print(name, 0)
    except OSError as error:
        print(name, error.errno)
try:
    for end in socket.socketpair(socket.AF_UNIX):
        end.close()
    print("socketpair AF_UNIX", 0)
except OSError as error:
    print("socketpair AF_UNIX", error.errno)
"#;

#[tokio::test]
async fn only_unix_and_ip_sockets_can_be_made() {
    let server = Server::start(&[]);
    let result = common::execute_http(
        &server,
        &server.key,
        json!({"language": "python", "code": TRY_FAMILIES}),
    )
    .await;
    assert_eq!(result["status"], "ok", "{result}");
    let stdout = result["stdout"].as_str().expect("stdout");
    let outcome = |name: &str| -> i64 {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} tried: {stdout}"))
    };
    for allowed in ["AF_UNIX", "AF_INET", "AF_INET6", "socketpair AF_UNIX"] {
        assert_eq!(outcome(allowed), 0, "{allowed} must work: {stdout}");
    }
    for refused in [
        "AF_VSOCK",
        "AF_NETLINK",
        "AF_PACKET",
        "AF_ALG",
        "AF_BLUETOOTH",
        "AF_CAN",
        "AF_RDS",
        "AF_TIPC",
    ] {
        assert_eq!(
            outcome(refused),
            EPERM,
            "{refused} must be refused by the seccomp filter: {stdout}"
        );
    }
}

/// The errno the seccomp filter answers.
const EPERM: i64 = 1;

/// `runnel ARGS` under a hard open-files limit of 1024: status and everything it printed.
fn under_low_nofile(args: &str) -> (std::process::ExitStatus, String) {
    let script = format!("ulimit -Sn 1024 && ulimit -Hn 1024 && exec \"$0\" {args}");
    let output = std::process::Command::new("bash")
        .args(["-c", &script, common::RUNNEL])
        .env("RUNNEL_LOG", "warn")
        .env("RUST_BACKTRACE", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run runnel under ulimit");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status, text)
}

#[tokio::test]
async fn a_low_open_files_limit_is_named_by_doctor_and_at_start_up() {
    let (status, doctor) = under_low_nofile("doctor");
    assert!(!status.success(), "doctor must fail: {doctor}");
    let line = doctor
        .lines()
        .find(|line| line.starts_with("open files limit"))
        .unwrap_or_else(|| panic!("doctor checks the open-files limit: {doctor}"));
    assert!(
        line.contains("MISSING") && line.contains("hard 1024"),
        "{line}"
    );
    assert!(
        doctor.contains("ulimit -Hn 65536"),
        "the fix is named: {doctor}"
    );

    let data_dir = tempfile::tempdir().expect("tempdir");
    let (status, serve) = under_low_nofile(&format!(
        // Were it to start, it would stop at once: its stdin is closed.
        "serve --listen 127.0.0.1:0 --stop-on-stdin-close --data-dir {}",
        data_dir.path().display()
    ));
    assert!(!status.success(), "serve must refuse to start: {serve}");
    assert!(
        serve.contains("RLIMIT_NOFILE") && serve.contains("LimitNOFILE=65536"),
        "start-up names the limit and the fix: {serve}"
    );
}

/// Reads what the sandbox shows of the host: the boot arguments, the processes, pid 1's
/// command line, an operator directory, and for contrast what a program does need.
const LOOK_AROUND: &str = r#"
import os
print("cmdline", repr(open("/proc/cmdline").read()))
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print("self", os.getpid())
try:
    print("pid1", repr(open("/proc/1/cmdline").read()))
except OSError as error:
    print("pid1", error.errno)
print("usr_local_etc", os.listdir("/usr/local/etc"))
print("meminfo", open("/proc/meminfo").readline().split(":")[0])
print("self_status", open("/proc/self/status").readline().split(":")[0])
"#;

#[tokio::test]
async fn the_sandbox_shows_neither_the_hosts_boot_nor_the_agent() {
    let server = Server::start(&[]);
    let result = common::execute_http(
        &server,
        &server.key,
        json!({"language": "python", "code": LOOK_AROUND}),
    )
    .await;
    assert_eq!(result["status"], "ok", "{result}");
    let stdout = result["stdout"].as_str().expect("stdout");
    let field = |name: &str| -> String {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} read: {stdout}"))
            .to_owned()
    };
    let host_cmdline = std::fs::read_to_string("/proc/cmdline").expect("host /proc/cmdline");
    assert!(
        !host_cmdline.trim().is_empty(),
        "the host has boot arguments"
    );
    assert_eq!(
        field("cmdline"),
        "''",
        "the host's boot arguments are masked"
    );
    // pid 1 is the sandbox's agent (not dumpable): invisible, its command line too.
    assert_eq!(field("pid1"), "2", "pid 1 is invisible (ENOENT): {stdout}");
    let pids = field("pids");
    assert!(!pids.contains("[1,") && !pids.contains("[1]"), "{pids}");
    assert!(
        pids.contains(&field("self")),
        "a program sees itself: {stdout}"
    );
    assert_eq!(field("usr_local_etc"), "[]", "operator files are not shown");
    assert_eq!(field("meminfo"), "MemTotal");
    assert_eq!(field("self_status"), "Name");
}
