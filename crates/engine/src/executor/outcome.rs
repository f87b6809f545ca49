//! From what the sandbox saw to the run's status.

use std::time::Duration;

use runnel_protocol::RunStatus;
use runnel_sandbox::{LimitHit, Outcome};

use crate::backend::Sandbox;

use super::StepResult;
use crate::error::EngineError;
use crate::output::OutputBudget;
use crate::run::{Limits, RunOutcome, RunRequest};

/// Processes the program left behind (a fork bomb's parent returns at once) may hit a limit
/// after the main process exited; the run's status names it all the same.
pub(super) fn name_limits_hit_by_orphans(
    sandbox: &Sandbox,
    outcome: &mut RunOutcome,
    limits: &Limits,
) {
    if !matches!(outcome.status, RunStatus::Ok | RunStatus::RuntimeError) {
        return;
    }
    let Ok(counters) = sandbox.counters() else {
        return;
    };
    if counters.oom_kills > 0 {
        outcome.status = RunStatus::MemoryLimit;
        outcome.message = Some(format!("memory limit of {} MiB", limits.memory_bytes >> 20));
    } else if counters.pids_max_hits > 0 {
        outcome.status = RunStatus::RuntimeError;
        outcome.message = Some(format!("process limit of {} reached", limits.pids));
    }
}

/// The pumps may read the last of the output after the program's exit was seen (`puts("hi")`
/// with `output_bytes: 1`): once they are done, a budget that ran out names the run's status
/// and marks it truncated, as if the kill had come in time.
pub(super) fn name_output_limit_read_late(
    outcome: &mut RunOutcome,
    budget: Option<&OutputBudget>,
    limits: &Limits,
) {
    if outcome.truncated || !budget.is_some_and(OutputBudget::exceeded) {
        return;
    }
    outcome.truncated = true;
    if matches!(outcome.status, RunStatus::Ok | RunStatus::RuntimeError) {
        outcome.status = RunStatus::OutputLimit;
        outcome.message = Some(output_limit_message(limits));
    }
}

fn output_limit_message(limits: &Limits) -> String {
    format!("output limit of {} bytes reached", limits.output_bytes)
}

/// Map what the sandbox saw to the run's status.
pub(super) fn outcome_of(
    step: &StepResult,
    compile_time: Duration,
    cached: bool,
    request: &RunRequest,
) -> RunOutcome {
    let outcome = &step.outcome;
    let (status, message) = if step.output_exceeded {
        (
            RunStatus::OutputLimit,
            Some(output_limit_message(&request.limits)),
        )
    } else if step.killed_by_request {
        (RunStatus::Killed, Some("killed on request".to_owned()))
    } else {
        match outcome.limit {
            Some(LimitHit::Wall) => (RunStatus::Timeout, None),
            Some(LimitHit::Cpu) => (
                RunStatus::CpuLimit,
                Some(format!(
                    "CPU limit of {} ms",
                    request.limits.cpu.as_millis()
                )),
            ),
            Some(LimitHit::Memory) => (
                RunStatus::MemoryLimit,
                Some(format!(
                    "memory limit of {} MiB",
                    request.limits.memory_bytes >> 20
                )),
            ),
            // A program that ran into the process limit is named as such even when its main
            // process exited 0 (a fork bomb's parent returns at once).
            Some(LimitHit::Pids) => (
                RunStatus::RuntimeError,
                Some(format!("process limit of {} reached", request.limits.pids)),
            ),
            _ if outcome.exit_code == Some(0) => (RunStatus::Ok, None),
            _ => (RunStatus::RuntimeError, None),
        }
    };
    RunOutcome {
        status,
        exit_code: outcome.exit_code,
        signal: outcome.signal,
        wall_time: outcome.wall_time,
        cpu_time: outcome.cpu_time,
        peak_memory: outcome.peak_memory,
        compile_time,
        cached,
        truncated: step.output_exceeded,
        message,
    }
}

pub(super) fn compile_failure(outcome: &Outcome) -> RunOutcome {
    RunOutcome {
        status: RunStatus::CompileError,
        exit_code: outcome.exit_code,
        signal: outcome.signal,
        wall_time: Duration::ZERO,
        cpu_time: Duration::ZERO,
        peak_memory: 0,
        compile_time: outcome.wall_time,
        cached: false,
        truncated: false,
        message: None,
    }
}

/// The outcome of a run the engine could not carry through: the program's own doing when no
/// process slot was free for it (`runtime_error`, naming the limit), else an engine fault.
pub(crate) fn outcome_of_error(error: &EngineError, what: &str) -> RunOutcome {
    if let EngineError::ProcessLimit(_) = error {
        let mut outcome = internal_error(error.to_string());
        outcome.status = RunStatus::RuntimeError;
        return outcome;
    }
    tracing::error!(%error, "{what} failed inside the engine");
    internal_error(format!("engine error: {error}"))
}

pub(crate) fn internal_error(message: String) -> RunOutcome {
    RunOutcome {
        status: RunStatus::InternalError,
        exit_code: None,
        signal: None,
        wall_time: Duration::ZERO,
        cpu_time: Duration::ZERO,
        peak_memory: 0,
        compile_time: Duration::ZERO,
        cached: false,
        truncated: false,
        message: Some(message),
    }
}
