//! Reading a sandbox's cgroup counters (host side; plain reads of small cgroup files).

use std::fs;
use std::time::Duration;

use crate::protocol::CgroupPaths;

/// Counters of one sandbox's cgroups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Processes killed by the cgroup's OOM killer so far.
    pub oom_kills: u64,
    /// Forks refused by the pids limit so far.
    pub pids_max_hits: u64,
    /// Peak memory use of the sandbox in bytes (tmpfs pages included), since it was made or
    /// since [`crate::Sandbox::reset_memory_peak`].
    pub memory_peak: u64,
    /// CPU time used by every process the sandbox ever held, from the v2 `cpu.stat` (zero
    /// where the host has no v2 hierarchy mounted).
    pub cpu_usage: Duration,
}

fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(key))
            .then(|| parts.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}

fn read_knob(dir: &str, file: &str) -> Result<String, crate::SandboxError> {
    let path = format!("{dir}/{file}");
    fs::read_to_string(&path).map_err(|source| crate::SandboxError::ReadCgroup { path, source })
}

/// Reads the counters (host side; plain reads of small cgroup files).
pub(crate) fn read_counters(paths: &CgroupPaths) -> Result<Counters, crate::SandboxError> {
    let mut counters = Counters::default();
    if let Some(dir) = &paths.memory {
        if paths.v2 {
            counters.oom_kills =
                keyed_value(&read_knob(dir, "memory.events")?, "oom_kill").unwrap_or(0);
            counters.memory_peak = read_knob(dir, "memory.peak")
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
        } else {
            counters.oom_kills =
                keyed_value(&read_knob(dir, "memory.oom_control")?, "oom_kill").unwrap_or(0);
            counters.memory_peak = read_knob(dir, "memory.max_usage_in_bytes")?
                .trim()
                .parse()
                .unwrap_or(0);
        }
    }
    if let Some(dir) = &paths.pids {
        counters.pids_max_hits = keyed_value(&read_knob(dir, "pids.events")?, "max").unwrap_or(0);
    }
    counters.cpu_usage = read_cpu_usage(paths)?;
    Ok(counters)
}

/// The CPU time of the sandbox alone (one file read), zero without a v2 directory.
pub(crate) fn read_cpu_usage(paths: &CgroupPaths) -> Result<Duration, crate::SandboxError> {
    let Some(dir) = &paths.unified else {
        return Ok(Duration::ZERO);
    };
    let usec = keyed_value(&read_knob(dir, "cpu.stat")?, "usage_usec").unwrap_or(0);
    Ok(Duration::from_micros(usec))
}

/// Starts the memory peak again from the current use (v1 only: v2's `memory.peak` can only
/// be reset per open file). Returns whether it was reset.
pub(crate) fn reset_memory_peak(paths: &CgroupPaths) -> Result<bool, crate::SandboxError> {
    let Some(dir) = paths.memory.as_deref().filter(|_| !paths.v2) else {
        return Ok(false);
    };
    let path = format!("{dir}/memory.max_usage_in_bytes");
    fs::write(&path, "0").map_err(|source| crate::SandboxError::ReadCgroup { path, source })?;
    Ok(true)
}
