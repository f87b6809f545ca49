//! Cgroups of the sandboxes: v1 (memory + memsw, pids, cpu), v2, and hybrid hosts, where a v2
//! leaf under `/sys/fs/cgroup/unified` exists only for `cgroup.kill`.
//!
//! Layout, per controller hierarchy: `<the spawner's own cgroup>/runnel/<pid>-<nonce>/<id>`.
//! The spawner's own cgroup is the server's (it is the server's child), so the server's memory
//! limit also bounds every sandbox. The instance directory carries the spawner's pid, which lets
//! a new spawner remove what a dead one left behind. Only the spawner writes here; the host
//! only reads counters (see [`Counters`]).

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use crate::protocol::{CgroupMode, CgroupPaths};
use crate::sys;

mod counters;
pub use counters::Counters;
pub(crate) use counters::{read_counters, read_cpu_usage, reset_memory_peak};

/// Processes of the sandbox itself in its pids cgroup: the agent.
const AGENT_PIDS: u32 = 1;
const ROOT: &str = "/sys/fs/cgroup";
const UNIFIED: &str = "/sys/fs/cgroup/unified";
/// How long removing a cgroup may keep getting `EBUSY` while its last tasks exit.
const RMDIR_PATIENCE: Duration = Duration::from_secs(5);
/// CFS period used for `cpu.cfs_quota_us` / `cpu.max`.
const CPU_PERIOD_US: u64 = 100_000;
/// The v1 knob bounding a cgroup's TCP socket buffers.
const TCP_LIMIT: &str = "memory.kmem.tcp.limit_in_bytes";

/// Where this spawner instance creates sandbox cgroups.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) mode: CgroupMode,
    /// v1 memory instance dir (or the v2 instance dir on pure v2 hosts).
    memory: Option<String>,
    pids: Option<String>,
    cpu: Option<String>,
    /// v2 instance dir (hybrid: for `cgroup.kill` only; v2: everything).
    unified: Option<String>,
    memsw: bool,
    /// v1 TCP memory accounting (`memory.kmem.tcp.*`): socket buffers are not charged to
    /// `memory.limit_in_bytes` on v1, so each sandbox gets this limit too. v2 charges them to
    /// `memory.max` already.
    tcpmem: bool,
}

/// The cgroup directories of one sandbox.
#[derive(Debug)]
pub(crate) struct SandboxCgroups {
    v2: bool,
    memsw: bool,
    tcpmem: bool,
    memory: Option<String>,
    pids: Option<String>,
    cpu: Option<String>,
    /// v2 leaf; `CLONE_INTO_CGROUP` puts the agent there.
    pub(crate) unified: Option<String>,
}

/// Reads `/proc/self/cgroup` into (controllers, path) pairs.
fn own_cgroups() -> io::Result<Vec<(String, String)>> {
    let text = fs::read_to_string("/proc/self/cgroup")?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?.to_string();
            let path = parts.next()?.to_string();
            Some((controllers, path))
        })
        .collect())
}

fn own_v1_path(own: &[(String, String)], controller: &str) -> Option<String> {
    own.iter()
        .find(|(controllers, _)| controllers.split(',').any(|c| c == controller))
        .map(|(_, path)| path.trim_end_matches('/').to_string())
}

fn own_v2_path(own: &[(String, String)]) -> String {
    own.iter()
        .find(|(controllers, _)| controllers.is_empty())
        .map(|(_, path)| path.trim_end_matches('/').to_string())
        .unwrap_or_default()
}

fn statfs_magic(path: &str) -> Option<i64> {
    let c_path = sys::cstr(path).ok()?;
    // SAFETY: statfs is plain data; zeroed is valid and the kernel only writes into it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `st` is a valid out-pointer.
    let ret = unsafe { libc::statfs(c_path.as_ptr(), &mut st) };
    (ret == 0).then_some(st.f_type as i64)
}

/// Detects the cgroup layout from the filesystem types under `/sys/fs/cgroup`.
pub(crate) fn detect_mode() -> CgroupMode {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
    match statfs_magic(ROOT) {
        Some(CGROUP2_SUPER_MAGIC) => CgroupMode::V2,
        Some(_) => {
            let has_v1 = statfs_magic(&format!("{ROOT}/memory")) == Some(CGROUP_SUPER_MAGIC);
            let has_unified = statfs_magic(UNIFIED) == Some(CGROUP2_SUPER_MAGIC);
            match (has_v1, has_unified) {
                (true, true) => CgroupMode::Hybrid,
                (true, false) => CgroupMode::V1,
                _ => CgroupMode::None,
            }
        }
        None => CgroupMode::None,
    }
}

fn mkdir_p(path: &str) -> io::Result<()> {
    match fs::create_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn with_path(path: &str, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{path}: {err}"))
}

fn write_knob(dir: &str, file: &str, value: &str) -> io::Result<()> {
    let path = format!("{dir}/{file}");
    tracing::debug!(%path, value, "cgroup write");
    sys::write_file(&path, value).map_err(|e| with_path(&path, e))
}

impl Layout {
    /// Prepares this instance's directories (`instance` is `<pid>-<nonce>`) after removing the
    /// leftovers of dead spawners.
    pub(crate) fn prepare(instance: &str) -> io::Result<Layout> {
        let mode = detect_mode();
        let own = own_cgroups()?;
        let mut layout = Layout {
            mode,
            memory: None,
            pids: None,
            cpu: None,
            unified: None,
            memsw: false,
            tcpmem: false,
        };
        match mode {
            CgroupMode::V1 | CgroupMode::Hybrid => {
                for controller in ["memory", "pids", "cpu"] {
                    let Some(own_path) = own_v1_path(&own, controller) else {
                        continue;
                    };
                    let parent = format!("{ROOT}/{controller}{own_path}/runnel");
                    remove_stale(&parent);
                    let dir = format!("{parent}/{instance}");
                    if mkdir_p(&dir).is_err() {
                        continue;
                    }
                    match controller {
                        "memory" => layout.memory = Some(dir),
                        "pids" => layout.pids = Some(dir),
                        _ => layout.cpu = Some(dir),
                    }
                }
                if let Some(memory) = &layout.memory {
                    layout.memsw =
                        fs::metadata(format!("{memory}/memory.memsw.limit_in_bytes")).is_ok();
                    layout.tcpmem = fs::metadata(format!("{memory}/{TCP_LIMIT}")).is_ok();
                }
                if mode == CgroupMode::Hybrid {
                    let parent = format!("{UNIFIED}{}/runnel", own_v2_path(&own));
                    remove_stale(&parent);
                    let dir = format!("{parent}/{instance}");
                    if mkdir_p(&dir).is_ok() {
                        layout.unified = Some(dir);
                    }
                }
            }
            CgroupMode::V2 => {
                let base = format!("{ROOT}{}", own_v2_path(&own));
                let dir = prepare_v2(&base, instance)?;
                layout.memsw = fs::metadata(format!("{dir}/memory.swap.max")).is_ok()
                    || fs::read_to_string(format!("{dir}/cgroup.subtree_control")).is_ok();
                layout.memory = Some(dir.clone());
                layout.pids = Some(dir.clone());
                layout.cpu = Some(dir.clone());
                layout.unified = Some(dir);
            }
            CgroupMode::None => {}
        }
        Ok(layout)
    }

    /// Creates the cgroups of sandbox `id` with its limits.
    pub(crate) fn create(
        &self,
        id: &str,
        memory_bytes: u64,
        pids: u32,
        cpus: Option<f64>,
    ) -> io::Result<SandboxCgroups> {
        let cgroups = self.create_dirs(id)?;
        match cgroups.configure(memory_bytes, pids, cpus) {
            Ok(()) => Ok(cgroups),
            Err(e) => {
                cgroups.remove();
                Err(e)
            }
        }
    }

    /// Creates the directories of sandbox `id` without limits (the spawner's pre-joined
    /// helper waits in them; see `spawner::helper`).
    pub(crate) fn create_dirs(&self, id: &str) -> io::Result<SandboxCgroups> {
        let leaf = |parent: &Option<String>| parent.as_ref().map(|p| format!("{p}/{id}"));
        let v2 = self.mode == CgroupMode::V2;
        let cgroups = SandboxCgroups {
            v2,
            memsw: self.memsw,
            tcpmem: self.tcpmem,
            memory: if v2 { None } else { leaf(&self.memory) },
            pids: if v2 { None } else { leaf(&self.pids) },
            cpu: if v2 { None } else { leaf(&self.cpu) },
            unified: leaf(&self.unified),
        };
        for dir in cgroups.dirs() {
            if let Err(e) = fs::create_dir(dir) {
                cgroups.remove();
                return Err(with_path(dir, e));
            }
        }
        Ok(cgroups)
    }

    /// Removes this instance's directories (after every sandbox is gone).
    pub(crate) fn remove(&self) {
        for dir in [&self.memory, &self.pids, &self.cpu, &self.unified]
            .into_iter()
            .flatten()
        {
            let _ = rmdir_patiently(dir);
            // The shared `runnel` parent goes too when no other spawner uses it.
            if let Some((parent, _)) = dir.rsplit_once('/') {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

/// On pure v2 hosts: makes `<base>/runnel/<instance>` with memory, pids and cpu delegated.
/// If `base` holds processes (the "no internal processes" rule), they move to
/// `<base>/runnel-supervisor` first, as systemd's `Delegate=yes` units are expected to.
fn prepare_v2(base: &str, instance: &str) -> io::Result<String> {
    let wanted = "+memory +pids +cpu";
    let enable = |dir: &str| -> io::Result<()> {
        let available = fs::read_to_string(format!("{dir}/cgroup.controllers"))?;
        let request: Vec<&str> = wanted
            .split(' ')
            .filter(|c| available.split_whitespace().any(|a| a == &c[1..]))
            .collect();
        write_knob(dir, "cgroup.subtree_control", &request.join(" "))
    };
    if enable(base).is_err() {
        let supervisor = format!("{base}/runnel-supervisor");
        mkdir_p(&supervisor)?;
        let procs = fs::read_to_string(format!("{base}/cgroup.procs"))?;
        for pid in procs.split_whitespace() {
            let _ = write_knob(&supervisor, "cgroup.procs", pid);
        }
        enable(base)?;
    }
    let parent = format!("{base}/runnel");
    mkdir_p(&parent)?;
    remove_stale(&parent);
    enable(&parent)?;
    let dir = format!("{parent}/{instance}");
    mkdir_p(&dir)?;
    enable(&dir)?;
    Ok(dir)
}

/// Kills and removes instance dirs under `parent` whose spawner is dead.
fn remove_stale(parent: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = sys::process_alive(pid)
            && fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.windows(9).any(|w| w == b"__spawner"))
                .unwrap_or(false);
        if alive {
            continue;
        }
        let dir = format!("{parent}/{name}");
        tracing::debug!(%dir, "removing stale cgroups of a dead spawner");
        remove_tree(&dir);
    }
}

/// Kills every task in `dir` and below, then removes the directories bottom-up.
fn remove_tree(dir: &str) {
    if fs::metadata(format!("{dir}/cgroup.kill")).is_ok() {
        let _ = write_knob(dir, "cgroup.kill", "1");
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&format!("{dir}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    kill_listed(dir);
    let _ = rmdir_patiently(dir);
}

/// SIGKILLs every pid listed in `dir/cgroup.procs` (v1 has no `cgroup.kill`).
fn kill_listed(dir: &str) {
    if let Ok(procs) = fs::read_to_string(format!("{dir}/cgroup.procs")) {
        for pid in procs
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill has no memory effects; a stale pid just fails with ESRCH.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// `rmdir`, retrying while the cgroup is busy (its last tasks are still exiting).
fn rmdir_patiently(dir: &str) -> io::Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < RMDIR_PATIENCE => {
                kill_listed(dir);
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(with_path(dir, e)),
        }
    }
}

impl SandboxCgroups {
    fn dirs(&self) -> impl Iterator<Item = &String> {
        [&self.memory, &self.pids, &self.cpu, &self.unified]
            .into_iter()
            .flatten()
    }

    /// The paths the host reads counters from.
    pub(crate) fn paths(&self) -> CgroupPaths {
        if self.v2 {
            CgroupPaths {
                v2: true,
                memory: self.unified.clone(),
                pids: self.unified.clone(),
                unified: self.unified.clone(),
            }
        } else {
            CgroupPaths {
                v2: false,
                memory: self.memory.clone(),
                pids: self.pids.clone(),
                unified: self.unified.clone(),
            }
        }
    }

    /// A directory descriptor of the v2 leaf, for `clone3(CLONE_INTO_CGROUP)`.
    pub(crate) fn unified_fd(&self) -> Option<OwnedFd> {
        let dir = self.unified.as_deref()?;
        let c_dir = sys::cstr(dir).ok()?;
        // SAFETY: `c_dir` is NUL-terminated; the result is checked by `owned`.
        sys::owned(unsafe {
            libc::open(
                c_dir.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })
        .ok()
    }

    /// Sets every limit of a new sandbox: CPU bandwidth, memory (no swap), pids.
    pub(crate) fn configure(
        &self,
        memory_bytes: u64,
        pids: u32,
        cpus: Option<f64>,
    ) -> io::Result<()> {
        if self.v2 {
            let dir = self.unified.as_deref().unwrap_or_default();
            // One OOM kills the whole sandbox: a half-killed process tree is worse.
            let _ = write_knob(dir, "memory.oom.group", "1");
            if let Some(cpus) = cpus {
                let quota = (cpus * CPU_PERIOD_US as f64).max(1000.0) as u64;
                write_knob(dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?;
            }
        } else if let (Some(dir), Some(cpus)) = (&self.cpu, cpus) {
            let quota = (cpus * CPU_PERIOD_US as f64).max(1000.0) as u64;
            write_knob(dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            write_knob(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        }
        self.set_limits(memory_bytes, pids)
    }

    /// Sets memory (no swap) and pids limits. `pids` are the commands' processes: the
    /// sandbox's own init (the agent, pid 1, which the pids cgroup counts too) comes on top.
    pub(crate) fn set_limits(&self, memory_bytes: u64, pids: u32) -> io::Result<()> {
        let pids = pids.saturating_add(AGENT_PIDS);
        if self.v2 {
            let dir = self.unified.as_deref().unwrap_or_default();
            write_knob(dir, "memory.max", &memory_bytes.to_string())?;
            if self.memsw {
                let _ = write_knob(dir, "memory.swap.max", "0");
            }
            return write_knob(dir, "pids.max", &pids.to_string());
        }
        if let Some(dir) = &self.memory {
            let limit = memory_bytes.to_string();
            if self.memsw {
                // memsw must stay >= the plain limit, so the order depends on the direction.
                if write_knob(dir, "memory.limit_in_bytes", &limit).is_ok() {
                    write_knob(dir, "memory.memsw.limit_in_bytes", &limit)?;
                } else {
                    write_knob(dir, "memory.memsw.limit_in_bytes", &limit)?;
                    write_knob(dir, "memory.limit_in_bytes", &limit)?;
                }
            } else {
                write_knob(dir, "memory.limit_in_bytes", &limit)?;
            }
            if self.tcpmem {
                // Socket buffers get the same bound: a program holding many full sockets on
                // its loopback otherwise pins host memory its limit never sees. Lowering it
                // below what sockets hold now fails (EBUSY); the higher bound then stays.
                match write_knob(dir, TCP_LIMIT, &limit) {
                    Err(error) if error.raw_os_error() == Some(libc::EBUSY) => {
                        tracing::debug!(%error, "TCP memory limit kept above current use");
                    }
                    other => other?,
                }
            }
        }
        if let Some(dir) = &self.pids {
            write_knob(dir, "pids.max", &pids.to_string())?;
        }
        Ok(())
    }

    /// Moves `pid` into the v1 cgroups (v2 placement happens at clone time) and, if
    /// `unified_joined` is false, into the v2 leaf too.
    pub(crate) fn join(&self, pid: libc::pid_t, unified_joined: bool) -> io::Result<()> {
        let pid = pid.to_string();
        for dir in [&self.memory, &self.pids, &self.cpu].into_iter().flatten() {
            if !self.v2 {
                write_knob(dir, "cgroup.procs", &pid)?;
            }
        }
        if !unified_joined {
            if let Some(dir) = &self.unified {
                write_knob(dir, "cgroup.procs", &pid)?;
            }
        }
        Ok(())
    }

    /// Kills every task of the sandbox: `cgroup.kill` where it exists, else each listed pid.
    pub(crate) fn kill_all(&self) {
        if let Some(dir) = &self.unified {
            if write_knob(dir, "cgroup.kill", "1").is_ok() {
                return;
            }
        }
        for dir in self.dirs() {
            kill_listed(dir);
        }
    }

    /// Removes every directory, retrying while busy. Errors are logged: cleanup goes on.
    pub(crate) fn remove(&self) {
        for dir in self.dirs() {
            if let Err(err) = rmdir_patiently(dir) {
                tracing::warn!(%dir, %err, "could not remove cgroup");
            }
        }
    }
}
