//! How a run's end becomes the exit code of `runnel exec`, following the shell's conventions
//! so scripts can tell the cases apart.
//!
//! | run ended with | exit code |
//! |---|---|
//! | `ok` / `runtime_error`, program exited with code n | n |
//! | `runtime_error` or `killed`, ended by signal n | 128 + n (SIGSEGV: 139) |
//! | `compile_error` | 1 |
//! | `timeout` (wall clock) | 124, as GNU `timeout` |
//! | `cpu_limit` | 152 = 128 + SIGXCPU, what RLIMIT_CPU gives in a shell |
//! | `memory_limit` | 137 = 128 + SIGKILL, what the OOM killer gives |
//! | `output_limit` | 153 = 128 + SIGXFSZ, what RLIMIT_FSIZE gives |
//! | `killed` without a signal | 137 |
//! | `internal_error` | 125, as `timeout` and `docker run` for their own failures |

use runnel_protocol::{ExitMessage, RunStatus};

/// Exit code of a compile error.
pub const EXIT_COMPILE_ERROR: i32 = 1;
/// Exit code of a wall-clock timeout (GNU `timeout`'s).
pub const EXIT_TIMEOUT: i32 = 124;
/// Exit code of an engine failure.
pub const EXIT_INTERNAL_ERROR: i32 = 125;
/// Exit code of a memory-limit kill or a kill on request (128 + SIGKILL).
pub const EXIT_KILLED: i32 = 128 + 9;
/// Exit code of the CPU-time limit (128 + SIGXCPU).
pub const EXIT_CPU_LIMIT: i32 = 128 + 24;
/// Exit code of the output limit (128 + SIGXFSZ).
pub const EXIT_OUTPUT_LIMIT: i32 = 128 + 25;

/// The number of a Linux signal given by name (`SIGSEGV`, `segv`) or number (`11`).
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(number) = name.parse::<i32>() {
        return (1..=64).contains(&number).then_some(number);
    }
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    let number = match bare {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ILL" => 4,
        "TRAP" => 5,
        "ABRT" | "IOT" => 6,
        "BUS" => 7,
        "FPE" => 8,
        "KILL" => 9,
        "USR1" => 10,
        "SEGV" => 11,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "STKFLT" => 16,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "TSTP" => 20,
        "TTIN" => 21,
        "TTOU" => 22,
        "URG" => 23,
        "XCPU" => 24,
        "XFSZ" => 25,
        "VTALRM" => 26,
        "PROF" => 27,
        "WINCH" => 28,
        "IO" | "POLL" => 29,
        "PWR" => 30,
        "SYS" => 31,
        _ => return None,
    };
    Some(number)
}

/// The exit code `runnel exec` returns for a run's `exit` (see the module's table).
pub fn exit_code_for(exit: &ExitMessage) -> i32 {
    let by_signal = exit
        .signal
        .as_deref()
        .map(|name| 128 + signal_number(name).unwrap_or(0));
    match exit.status {
        RunStatus::Ok | RunStatus::RuntimeError => by_signal
            .or(exit.exit_code)
            .unwrap_or(if exit.status == RunStatus::Ok { 0 } else { 1 }),
        RunStatus::CompileError => EXIT_COMPILE_ERROR,
        RunStatus::Timeout => EXIT_TIMEOUT,
        RunStatus::CpuLimit => EXIT_CPU_LIMIT,
        RunStatus::MemoryLimit => EXIT_KILLED,
        RunStatus::OutputLimit => EXIT_OUTPUT_LIMIT,
        RunStatus::Killed => by_signal.unwrap_or(EXIT_KILLED),
        RunStatus::InternalError => EXIT_INTERNAL_ERROR,
    }
}

/// A line for the terminal's stderr about how the run ended, when it did not simply exit.
pub fn status_notice(exit: &ExitMessage) -> Option<String> {
    let what = match exit.status {
        RunStatus::Ok => return None,
        RunStatus::RuntimeError => match &exit.signal {
            Some(signal) => format!("program killed by {signal}"),
            None => return None,
        },
        RunStatus::CompileError => "compile error".to_owned(),
        RunStatus::Timeout => "timeout: wall-clock limit reached".to_owned(),
        RunStatus::CpuLimit => "cpu_limit: CPU-time limit reached".to_owned(),
        RunStatus::MemoryLimit => "memory_limit: memory limit reached".to_owned(),
        RunStatus::OutputLimit => "output_limit: output limit reached".to_owned(),
        RunStatus::Killed => "killed".to_owned(),
        RunStatus::InternalError => "internal_error: the engine failed".to_owned(),
    };
    let detail = exit
        .message
        .as_deref()
        .map(|message| format!(" ({message})"))
        .unwrap_or_default();
    Some(format!(
        "runnel: {what}{detail} after {:.0} ms",
        exit.execution_time
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(status: RunStatus, exit_code: Option<i32>, signal: Option<&str>) -> ExitMessage {
        ExitMessage {
            id: "r1".to_owned(),
            exit_code,
            signal: signal.map(str::to_owned),
            status,
            execution_time: 12.0,
            compile_time: 0.0,
            cached: false,
            cpu_time: 1.0,
            memory: 0,
            truncated: false,
            message: None,
            seq: 1,
            session: None,
        }
    }

    #[test]
    fn maps_every_status() {
        let cases = [
            (exit(RunStatus::Ok, Some(0), None), 0),
            (exit(RunStatus::RuntimeError, Some(3), None), 3),
            (exit(RunStatus::RuntimeError, None, Some("SIGSEGV")), 139),
            (exit(RunStatus::RuntimeError, None, None), 1),
            (exit(RunStatus::CompileError, Some(1), None), 1),
            (exit(RunStatus::Timeout, None, Some("SIGKILL")), 124),
            (exit(RunStatus::CpuLimit, None, Some("SIGKILL")), 152),
            (exit(RunStatus::MemoryLimit, None, Some("SIGKILL")), 137),
            (exit(RunStatus::OutputLimit, None, Some("SIGKILL")), 153),
            (exit(RunStatus::Killed, None, Some("SIGINT")), 130),
            (exit(RunStatus::Killed, None, None), 137),
            (exit(RunStatus::InternalError, None, None), 125),
        ];
        for (message, expected) in cases {
            assert_eq!(exit_code_for(&message), expected, "{message:?}");
        }
    }

    #[test]
    fn parses_signal_names_and_numbers() {
        assert_eq!(signal_number("SIGKILL"), Some(9));
        assert_eq!(signal_number("term"), Some(15));
        assert_eq!(signal_number("SigXcpu"), Some(24));
        assert_eq!(signal_number("11"), Some(11));
        assert_eq!(signal_number("0"), None);
        assert_eq!(signal_number("SIGNOPE"), None);
    }

    #[test]
    fn notices_say_what_happened() {
        assert_eq!(status_notice(&exit(RunStatus::Ok, Some(0), None)), None);
        assert_eq!(
            status_notice(&exit(RunStatus::RuntimeError, Some(2), None)),
            None
        );
        let timeout = status_notice(&exit(RunStatus::Timeout, None, None)).expect("notice");
        assert!(
            timeout.contains("timeout") && timeout.contains("12 ms"),
            "{timeout}"
        );
        let segv = status_notice(&exit(RunStatus::RuntimeError, None, Some("SIGSEGV")));
        assert!(segv.expect("notice").contains("SIGSEGV"));
    }
}
