//! Reading a sandbox's cgroup counters (host side; plain reads of small cgroup files).

use std::fs;

use crate::protocol::CgroupPaths;

/// Counters of one sandbox's cgroups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Processes killed by the cgroup's OOM killer so far.
    pub oom_kills: u64,
    /// Forks refused by the pids limit so far.
    pub pids_max_hits: u64,
    /// Peak memory use of the sandbox in bytes (tmpfs pages included).
    pub memory_peak: u64,
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
    Ok(counters)
}
