//! Detection: which toolchains really work on this host, and their versions.
//!
//! Each language's version command runs on the host, all in parallel, each in a clean
//! environment (the language's own, with a temporary directory for HOME and TMPDIR) and with a
//! timeout. A language is kept when every path it requires exists, the command exits 0 and a
//! version can be read from its output (or from `version.file`).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::language::{Language, SandboxDirs};

/// Memory limit whose hints the version commands get (the JVM sizes its heap from it).
const DETECT_MEMORY_BYTES: u64 = 512 * 1024 * 1024;

/// How often a running version command is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Why a language is unavailable.
#[derive(Debug)]
pub(crate) struct Missing {
    /// What was wrong, for the log and `runnel doctor`.
    pub(crate) reason: String,
    /// The version command ran out of time (on a loaded host it may only be slow).
    pub(crate) timed_out: bool,
}

impl From<String> for Missing {
    fn from(reason: String) -> Self {
        Missing {
            reason,
            timed_out: false,
        }
    }
}

impl From<&str> for Missing {
    fn from(reason: &str) -> Self {
        Missing::from(reason.to_owned())
    }
}

/// Check one language; `Ok(version)` when its toolchain works. The version command gets its
/// timeout times `patience`.
pub(crate) fn detect(
    language: &Language,
    scratch: &Path,
    patience: u32,
) -> Result<String, Missing> {
    for path in &language.requires {
        if !path.exists() {
            return Err(format!("{} is missing", path.display()).into());
        }
    }
    let check = &language.version_check;
    let mut output = String::new();
    if !check.command.is_empty() {
        let timeout = check.timeout.saturating_mul(patience.max(1));
        output = run_version_command(language, &check.command, timeout, scratch)?;
    }
    let source = match &check.file {
        Some(file) => std::fs::read_to_string(file)
            .map_err(|error| format!("read {}: {error}", file.display()))?,
        None => output,
    };
    extract_version(&source, check.prefix.as_deref())
        .ok_or_else(|| format!("no version in {:?}", truncate(&source, 200)).into())
}

fn run_version_command(
    language: &Language,
    argv: &[String],
    timeout: Duration,
    scratch: &Path,
) -> Result<String, Missing> {
    let dirs = SandboxDirs {
        work: scratch.to_string_lossy().into_owned(),
        tmp: scratch.to_string_lossy().into_owned(),
    };
    let env = if language.compiled {
        language.compile_environment_in(DETECT_MEMORY_BYTES, &dirs)
    } else {
        language.run_environment_in(DETECT_MEMORY_BYTES, &dirs)
    };
    let (program, args) = argv.split_first().ok_or("empty version command")?;
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("start {program}: {error}"))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL),
            Ok(None) => {
                // Best effort: the child may have exited in between.
                let _ = child.kill();
                let _ = child.wait();
                return Err(Missing {
                    reason: format!("{program} timed out after {timeout:?}"),
                    timed_out: true,
                });
            }
            Err(error) => return Err(format!("wait for {program}: {error}").into()),
        }
    };
    // Version output is a few lines, far below a pipe's capacity, so reading after exit
    // cannot deadlock.
    let mut output = String::new();
    for stream in [
        child.stdout.take().map(read_all),
        child.stderr.take().map(read_all),
    ] {
        output.push_str(&stream.unwrap_or_default());
    }
    if !status.success() {
        return Err(format!(
            "{program} failed ({status}): {}",
            truncate(output.trim(), 200)
        )
        .into());
    }
    Ok(output)
}

fn read_all(mut stream: impl Read) -> String {
    let mut bytes = Vec::new();
    // A read error leaves what was read; the version check then reports what it saw.
    let _ = stream.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first dotted number (`3.11.2`, from `Python 3.11.2` or `go1.27.3`) in `text`, after the
/// first occurrence of `prefix` when one is given.
pub(crate) fn extract_version(text: &str, prefix: Option<&str>) -> Option<String> {
    let start = match prefix {
        Some(prefix) => text.find(prefix)? + prefix.len(),
        None => 0,
    };
    let bytes = &text.as_bytes()[start..];
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index].is_ascii_digit() {
            let begin = index;
            let mut dots = 0;
            let mut end = index;
            while end < bytes.len() {
                if bytes[end].is_ascii_digit() {
                    end += 1;
                } else if bytes[end] == b'.' && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
                    dots += 1;
                    end += 1;
                } else {
                    break;
                }
            }
            if dots > 0 {
                return Some(text[start + begin..start + end].to_string());
            }
            index = end;
        } else {
            index += 1;
        }
    }
    None
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_usual_outputs() {
        let cases = [
            ("Python 3.11.2\n", None, "3.11.2"),
            ("v20.20.2\n", None, "20.20.2"),
            (
                "openjdk version \"17.0.15\" 2025-04-15\nOpenJDK ...",
                None,
                "17.0.15",
            ),
            (
                "go version go1.27.3 linux/amd64\n",
                Some("go version go"),
                "1.27.3",
            ),
            ("rustc 1.95.0 (abc 2026-01-01)", Some("rustc"), "1.95.0"),
            (
                "GNU bash, version 5.2.15(1)-release (x86_64)",
                None,
                "5.2.15",
            ),
            (
                "{\n  \"name\": \"typescript\",\n  \"version\": \"7.0.2\"",
                Some("\"version\""),
                "7.0.2",
            ),
            ("v5.36.0", None, "5.36.0"),
            ("Lua 5.4.4  Copyright (C) 1994-2022", None, "5.4.4"),
        ];
        for (text, prefix, expected) in cases {
            assert_eq!(
                extract_version(text, prefix).as_deref(),
                Some(expected),
                "{text}"
            );
        }
        assert_eq!(extract_version("no digits 12 here", None), None);
        assert_eq!(extract_version("x 1.2", Some("absent")), None);
    }
}
