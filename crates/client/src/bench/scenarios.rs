//! The scenarios themselves. Each appends rows (and ratios) to the report; an error return
//! means the scenario could not run at all. A failed sample is counted, not fatal.

use std::future::Future;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runnel_protocol::{ExecuteRequest, RunStatus, ServerMessage};
use tokio::sync::Barrier;

use crate::bench::report::{BenchRatio, BenchReport, BenchRow};
use crate::bench::stats::Samples;
use crate::bench::{BenchOptions, Scenario, OPERATION_TIMEOUT};
use crate::connection::Client;
use crate::error::ClientError;
use crate::options::ClientOptions;

/// Latencies of one metric, plus the first failure, to say why runs failed.
#[derive(Default)]
pub(super) struct Metric {
    pub(super) samples: Samples,
    first_error: Option<String>,
}

impl Metric {
    pub(super) fn fail(&mut self, why: impl FnOnce() -> String) {
        self.samples.record_error();
        if self.first_error.is_none() {
            self.first_error = Some(why());
        }
    }

    fn merge(&mut self, other: Metric) {
        self.samples.merge(&other.samples);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    /// Adds the metric's row, and a line saying why runs failed when some did.
    pub(super) fn report(
        self,
        report: &mut BenchReport,
        scenario: Scenario,
        metric: &str,
        rate: Option<f64>,
    ) {
        if let Some(first_error) = &self.first_error {
            report.failures.push(format!(
                "{scenario} {metric}: {} failed, the first with: {first_error}",
                self.samples.errors()
            ));
        }
        report.rows.push(BenchRow {
            scenario: scenario.as_str().to_owned(),
            metric: metric.to_owned(),
            stats: self.samples.stats(),
            runs_per_sec: rate,
            errors: self.samples.errors(),
        });
    }
}

/// A program printing `hi`, per language id or common alias.
pub(super) fn hello_program(language: &str) -> Option<&'static str> {
    Some(match language.to_ascii_lowercase().as_str() {
        "python" | "py" | "python3" => "print(\"hi\")",
        "javascript" | "js" | "node" | "typescript" | "ts" => "console.log(\"hi\")",
        "ruby" | "rb" => "puts \"hi\"",
        "bash" | "sh" => "echo hi",
        "php" => "<?php echo \"hi\\n\";",
        "lua" => "print(\"hi\")",
        "perl" | "pl" => "print \"hi\\n\";",
        "c" => "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
        "cpp" | "c++" => "#include <cstdio>\nint main() { std::puts(\"hi\"); }\n",
        "go" | "golang" => "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hi\") }\n",
        "rust" | "rs" => "fn main() { println!(\"hi\"); }\n",
        "java" => "public class Main { public static void main(String[] a) { System.out.println(\"hi\"); } }\n",
        "kotlin" | "kt" => "fun main() { println(\"hi\") }\n",
        _ => return None,
    })
}

/// A program echoing each stdin line at once, per language id or common alias.
fn echo_program(language: &str) -> Option<&'static str> {
    Some(match language.to_ascii_lowercase().as_str() {
        "python" | "py" | "python3" => {
            "import sys\nfor l in sys.stdin: print(l, end='', flush=True)\n"
        }
        "javascript" | "js" | "node" => "process.stdin.on('data', d => process.stdout.write(d))\n",
        "ruby" | "rb" => "STDOUT.sync = true\nSTDIN.each_line { |l| print l }\n",
        "bash" | "sh" => "while IFS= read -r l; do printf '%s\\n' \"$l\"; done\n",
        "perl" | "pl" => "$| = 1; print while <STDIN>;\n",
        _ => return None,
    })
}

fn request(options: &BenchOptions, code: &str) -> ExecuteRequest {
    ExecuteRequest {
        language: options.language.clone(),
        code: Some(code.to_owned()),
        ..ExecuteRequest::default()
    }
}

fn hello_request(options: &BenchOptions) -> Result<ExecuteRequest, ClientError> {
    let code = hello_program(&options.language).ok_or_else(|| ClientError::InvalidUrl {
        url: options.url.clone(),
        reason: format!(
            "the bench has no hello-world program for `{}`",
            options.language
        ),
    })?;
    Ok(request(options, code))
}

/// `future`, failing with [`ClientError::Timeout`] after [`OPERATION_TIMEOUT`].
pub(super) async fn timed<T>(
    what: &str,
    future: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(OPERATION_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| {
            Err(ClientError::Timeout {
                what: what.to_owned(),
                after: OPERATION_TIMEOUT,
            })
        })
}

/// Errors after which more attempts on the same connection are pointless.
fn is_fatal(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Closed { .. } | ClientError::Unauthorized { .. } | ClientError::Send { .. }
    )
}

pub(super) async fn ping(
    client: &Client,
    options: &BenchOptions,
    report: &mut BenchReport,
) -> Result<(), ClientError> {
    let mut metric = Metric::default();
    for iteration in 0..options.warmup + options.n {
        match timed("ping", client.ping()).await {
            Ok(latency) if iteration >= options.warmup => metric.samples.record(latency),
            Ok(_) => {}
            Err(error) if is_fatal(&error) => return Err(error),
            Err(error) => metric.fail(|| error.to_string()),
        }
    }
    metric.report(report, Scenario::Ping, "round trip", None);
    Ok(())
}

/// One one-shot run until its `result`; the latency when its status is `ok`.
async fn sample_oneshot(
    client: &Client,
    request: &ExecuteRequest,
    metric: &mut Metric,
    measured: bool,
) -> Result<(), ClientError> {
    let start = Instant::now();
    match timed("one-shot run", client.run(request.clone())).await {
        Ok(result) if result.status == RunStatus::Ok => {
            if measured {
                metric.samples.record(start.elapsed());
            }
        }
        Ok(result) => metric.fail(|| {
            format!(
                "status {} {}",
                result.status.as_str(),
                result.message.unwrap_or(result.stderr)
            )
        }),
        Err(error) if is_fatal(&error) => return Err(error),
        Err(error) => metric.fail(|| error.to_string()),
    }
    Ok(())
}

/// One bare spawn of the interpreter until it exits.
async fn sample_bare(options: &BenchOptions, metric: &mut Metric, measured: bool) {
    let Some((program, args)) = options.bare_command.split_first() else {
        metric.fail(|| "the bare command is empty".to_owned());
        return;
    };
    let start = Instant::now();
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .await;
    match output {
        Ok(output) if output.status.success() => {
            if measured {
                metric.samples.record(start.elapsed());
            }
        }
        Ok(output) => metric.fail(|| format!("{program} exited with {}", output.status)),
        Err(source) => metric.fail(|| {
            ClientError::Spawn {
                program: program.into(),
                source,
            }
            .to_string()
        }),
    }
}

/// Sequential one-shot runs; when `bare` is selected too, a bare spawn after (or, every other
/// iteration, before) each run, so both series see the same noise.
pub(super) async fn oneshot(
    client: &Client,
    options: &BenchOptions,
    report: &mut BenchReport,
) -> Result<(), ClientError> {
    let request = hello_request(options)?;
    let interleave = options.wants(Scenario::Bare);
    let mut runs = Metric::default();
    let mut bare = Metric::default();
    for iteration in 0..options.warmup + options.n {
        let measured = iteration >= options.warmup;
        let bare_first = iteration % 2 == 1;
        if interleave && bare_first {
            sample_bare(options, &mut bare, measured).await;
        }
        sample_oneshot(client, &request, &mut runs, measured).await?;
        if interleave && !bare_first {
            sample_bare(options, &mut bare, measured).await;
        }
    }
    let ratio = match (runs.samples.stats(), bare.samples.stats()) {
        (Some(runs), Some(bare)) if interleave => Some(runs.p50_ms / bare.p50_ms),
        _ => None,
    };
    runs.report(report, Scenario::Oneshot, "until result", None);
    if interleave {
        bare.report(
            report,
            Scenario::Bare,
            "spawn until exit (interleaved)",
            None,
        );
    }
    if let Some(value) = ratio {
        report.ratios.push(BenchRatio {
            name: "oneshot p50 / bare p50".to_owned(),
            value,
        });
    }
    Ok(())
}

/// The bare baseline alone (when `oneshot` is not selected).
pub(super) async fn bare_alone(
    options: &BenchOptions,
    report: &mut BenchReport,
) -> Result<(), ClientError> {
    let mut bare = Metric::default();
    for iteration in 0..options.warmup + options.n {
        sample_bare(options, &mut bare, iteration >= options.warmup).await;
    }
    bare.report(report, Scenario::Bare, "spawn until exit", None);
    Ok(())
}

/// Streamed runs: time to the first stdout chunk and to `exit`.
pub(super) async fn oneshot_stream(
    client: &Client,
    options: &BenchOptions,
    report: &mut BenchReport,
) -> Result<(), ClientError> {
    let request = hello_request(options)?;
    let mut first_chunk = Metric::default();
    let mut until_exit = Metric::default();
    for iteration in 0..options.warmup + options.n {
        let measured = iteration >= options.warmup;
        let start = Instant::now();
        let outcome = timed("streamed run", async {
            let mut run = client.execute(request.clone()).await?;
            let mut first: Option<Duration> = None;
            while let Some(event) = run.next_event().await {
                match event {
                    ServerMessage::Stdout(_) => {
                        first.get_or_insert_with(|| start.elapsed());
                    }
                    ServerMessage::Exit(exit) => return Ok((first, start.elapsed(), Ok(exit))),
                    ServerMessage::Error(error) => {
                        return Ok((first, start.elapsed(), Err(error.message)))
                    }
                    _ => {}
                }
            }
            Err(client.closed_error())
        })
        .await;
        match outcome {
            Ok((Some(first), total, Ok(exit))) if exit.status == RunStatus::Ok => {
                if measured {
                    first_chunk.samples.record(first);
                    until_exit.samples.record(total);
                }
            }
            Ok((_, _, Ok(exit))) => {
                let why = format!("status {} (or no stdout)", exit.status.as_str());
                first_chunk.fail(|| why.clone());
                until_exit.fail(|| why);
            }
            Ok((_, _, Err(message))) => {
                first_chunk.fail(|| message.clone());
                until_exit.fail(|| message);
            }
            Err(error) if is_fatal(&error) => return Err(error),
            Err(error) => {
                first_chunk.fail(|| error.to_string());
                until_exit.fail(|| error.to_string());
            }
        }
    }
    first_chunk.report(report, Scenario::OneshotStream, "until first stdout", None);
    until_exit.report(report, Scenario::OneshotStream, "until exit", None);
    Ok(())
}

/// A program that echoes lines stays running; each sample writes one line and waits for it.
pub(super) async fn stdin_echo(
    client: &Client,
    options: &BenchOptions,
    report: &mut BenchReport,
) -> Result<(), ClientError> {
    let code = echo_program(&options.language).ok_or_else(|| ClientError::InvalidUrl {
        url: options.url.clone(),
        reason: format!("the bench has no echo program for `{}`", options.language),
    })?;
    let mut run = client.execute(request(options, code)).await?;
    let mut metric = Metric::default();
    let mut pending = String::new();
    for iteration in 0..options.warmup + options.n {
        let line = format!("line {iteration}\n");
        let start = Instant::now();
        run.write_stdin(&line, false).await?;
        let echoed = timed("echoed line", async {
            loop {
                match run.next_event().await {
                    Some(ServerMessage::Stdout(chunk)) => {
                        pending.push_str(&chunk.data);
                        if let Some(end) = pending.find('\n') {
                            let echoed: String = pending.drain(..=end).collect();
                            return Ok(echoed);
                        }
                    }
                    Some(ServerMessage::Exit(exit)) => {
                        return Err(ClientError::Unexpected {
                            id: exit.id,
                            expected: "stdout",
                            got: format!("exit with status {}", exit.status.as_str()),
                        })
                    }
                    Some(ServerMessage::Error(error)) => return Err(client.server_error(error)),
                    Some(_) => {}
                    None => return Err(client.closed_error()),
                }
            }
        })
        .await?;
        if echoed == line {
            if iteration >= options.warmup {
                metric.samples.record(start.elapsed());
            }
        } else {
            metric.fail(|| format!("sent {line:?}, got {echoed:?}"));
        }
    }
    run.write_stdin("", true).await?;
    // Let the program end; its exit status does not change the figures.
    let _ = timed("echo program exit", async {
        while run.next_event().await.is_some() {}
        Ok(())
    })
    .await;
    metric.report(report, Scenario::StdinEcho, "line round trip", None);
    Ok(())
}

/// `throughput_runs` one-shot runs from `concurrency` connections, all started together.
pub(super) async fn throughput(
    options: &BenchOptions,
    report: &mut BenchReport,
) -> Result<(), ClientError> {
    let request = hello_request(options)?;
    let concurrency = options.concurrency.max(1);
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        clients.push(
            Client::connect_with(&options.url, &options.api_key, ClientOptions::SINGLE_SOCKET)
                .await?,
        );
    }
    let next_run = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(concurrency + 1));
    let total = options.throughput_runs;
    let mut workers = Vec::with_capacity(concurrency);
    for client in clients {
        let (request, next_run, barrier) =
            (request.clone(), Arc::clone(&next_run), Arc::clone(&barrier));
        workers.push(tokio::spawn(async move {
            let mut metric = Metric::default();
            // One unmeasured run per connection, so no connection's first run is counted.
            let warm = sample_oneshot(&client, &request, &mut Metric::default(), false).await;
            barrier.wait().await;
            if let Err(error) = warm {
                metric.fail(|| error.to_string());
                return metric;
            }
            while next_run.fetch_add(1, Ordering::Relaxed) < total {
                if let Err(error) = sample_oneshot(&client, &request, &mut metric, true).await {
                    metric.fail(|| error.to_string());
                    break;
                }
            }
            client.close().await;
            metric
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Metric::default();
    for worker in workers {
        match worker.await {
            Ok(metric) => all.merge(metric),
            Err(error) => all.fail(|| format!("worker task failed: {error}")),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let rate = (elapsed > 0.0).then(|| all.samples.len() as f64 / elapsed);
    let metric = format!("until result, {concurrency} connections");
    all.report(report, Scenario::Throughput, &metric, rate);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_exist_for_the_default_language_and_aliases() {
        assert_eq!(hello_program("python"), Some("print(\"hi\")"));
        assert_eq!(hello_program("PY"), hello_program("python"));
        assert!(hello_program("cobol").is_none());
        assert!(echo_program("python").expect("echo").contains("flush=True"));
        assert!(echo_program("java").is_none());
    }
}
