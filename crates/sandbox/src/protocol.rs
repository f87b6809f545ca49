//! Messages between the server, the spawner and each sandbox's agent, and the capability set
//! the spawner's probe reports.
//!
//! All messages are JSON over seqpacket (see [`crate::ipc`]); descriptors travel beside them.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};

use crate::spec::{CommandSpec, SandboxSpec};

/// How the host's cgroups are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupMode {
    /// Pure cgroup v2 (`/sys/fs/cgroup` is cgroup2 with the controllers).
    V2,
    /// cgroup v1 controllers, no usable v2 mount.
    V1,
    /// cgroup v1 controllers plus a v2 mount at `/sys/fs/cgroup/unified` (used for `cgroup.kill`).
    Hybrid,
    /// No usable cgroups.
    None,
}

impl fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupMode::V2 => "v2",
            CgroupMode::V1 => "v1",
            CgroupMode::Hybrid => "hybrid (v1 controllers + v2 for cgroup.kill)",
            CgroupMode::None => "none",
        })
    }
}

/// What the host supports, as found by real probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// A user namespace plus mount, pid, net, ipc, uts and cgroup namespaces can be created.
    pub namespaces: bool,
    /// tmpfs can be mounted inside the new user namespace.
    pub tmpfs_in_userns: bool,
    /// `pivot_root` into a tmpfs works.
    pub pivot_root: bool,
    /// seccomp filters can be installed.
    pub seccomp: bool,
    /// Landlock ABI version, 0 when unavailable.
    pub landlock_abi: u32,
    /// cgroup layout.
    pub cgroup_mode: CgroupMode,
    /// A child memory cgroup could be created and limited.
    pub cgroup_memory: bool,
    /// Swap accounting (`memory.memsw.*` on v1, `memory.swap.max` on v2) is present.
    pub cgroup_memsw: bool,
    /// A child pids cgroup could be created and limited.
    pub cgroup_pids: bool,
    /// A child cpu cgroup could be created and limited.
    pub cgroup_cpu: bool,
    /// `cgroup.kill` exists on the v2 hierarchy.
    pub cgroup_kill: bool,
    /// Socket buffers count against a sandbox's memory limit: always on v2 (with the memory
    /// controller), through `memory.kmem.tcp.limit_in_bytes` on v1.
    #[serde(default)]
    pub cgroup_socket_memory: bool,
    /// The hard `RLIMIT_NOFILE` of the server (sandboxes get 4096 open files, and cannot get
    /// more than the server may have).
    #[serde(default)]
    pub nofile_hard: u64,
    /// A new devpts instance can be mounted and a pty opened from it.
    pub pty: bool,
}

/// How to raise the open-files limit the sandboxes need.
pub(crate) const NOFILE_FIX: &str = "raise the hard open-files limit to 4096 or more before starting the server: `ulimit -Hn 65536 && ulimit -Sn 65536`, `LimitNOFILE=65536` in a systemd unit, `--ulimit nofile=65536:65536` for Docker, or `nofile` in /etc/security/limits.conf";

/// One missing requirement and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing.
    pub what: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

impl Capabilities {
    /// The required features that are missing, each with its fix.
    pub fn missing(&self) -> Vec<Missing> {
        let mut out = Vec::new();
        if !self.namespaces {
            out.push(Missing {
                what: "user/mount/pid/net namespaces",
                fix: "run as root on a VM or host; enable kernel.unprivileged_userns_clone=1, raise user.max_user_namespaces, or allow `userns` in AppArmor (kernel.apparmor_restrict_unprivileged_userns=0); in Docker use --privileged or seccomp=unconfined,apparmor=unconfined,systempaths=unconfined",
            });
        }
        if self.namespaces && !self.tmpfs_in_userns {
            out.push(Missing {
                what: "tmpfs mount in a user namespace",
                fix: "run outside a container that masks mounts, or with --privileged",
            });
        }
        if self.namespaces && !self.pivot_root {
            out.push(Missing {
                what: "pivot_root",
                fix: "run on a host or VM, or in a privileged container",
            });
        }
        if !self.seccomp {
            out.push(Missing {
                what: "seccomp filters",
                fix: "use a kernel built with CONFIG_SECCOMP_FILTER=y",
            });
        }
        if !self.cgroup_memory {
            out.push(Missing {
                what: "writable memory cgroup",
                fix: "run as root with a writable /sys/fs/cgroup; on cgroup v2 with systemd run the server as a unit with Delegate=yes",
            });
        }
        if self.nofile_hard < crate::agent::NOFILE {
            out.push(Missing {
                what: "a hard open-files limit (RLIMIT_NOFILE) of at least 4096",
                fix: NOFILE_FIX,
            });
        }
        if !self.cgroup_pids {
            out.push(Missing {
                what: "writable pids cgroup",
                fix: "run as root with a writable /sys/fs/cgroup; on cgroup v2 enable +pids in the parent's cgroup.subtree_control (systemd: Delegate=yes)",
            });
        }
        out
    }
}

/// Cgroup directories of one sandbox, for the host to read counters from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CgroupPaths {
    /// Whether the memory and pids files are v2 style (`memory.events`) or v1 style.
    pub(crate) v2: bool,
    /// The directory with memory files.
    pub(crate) memory: Option<String>,
    /// The directory with pids files.
    pub(crate) pids: Option<String>,
    /// The v2 directory, whose `cpu.stat` counts the sandbox's CPU time whether or not the
    /// cpu controller is enabled there (on hybrid hosts too).
    #[serde(default)]
    pub(crate) unified: Option<String>,
}

/// An error reported by another process: the step, the errno and a detail.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RemoteError {
    pub(crate) step: String,
    pub(crate) errno: i32,
    pub(crate) detail: String,
}

impl RemoteError {
    pub(crate) fn new(step: impl Into<String>, err: &io::Error) -> Self {
        RemoteError {
            step: step.into(),
            errno: err.raw_os_error().unwrap_or(0),
            detail: err.to_string(),
        }
    }

    pub(crate) fn into_io(self) -> io::Error {
        if self.errno != 0 {
            io::Error::from_raw_os_error(self.errno)
        } else {
            io::Error::other(self.detail)
        }
    }
}

/// Server to spawner.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SpawnerRequest {
    Create {
        spec: SandboxSpec,
    },
    SetLimits {
        id: String,
        memory_bytes: u64,
        pids: u32,
    },
    Destroy {
        id: String,
    },
    Shutdown,
}

/// Spawner to server.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SpawnerReply {
    /// First message: what the probe found.
    Hello {
        capabilities: Capabilities,
    },
    /// A sandbox exists; the agent's control socket comes attached.
    Created {
        id: String,
        uid_base: u32,
        cgroups: CgroupPaths,
    },
    Done,
    Failed(RemoteError),
}

/// Server to agent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum AgentRequest {
    Start {
        id: u64,
        command: CommandSpec,
        nproc: u64,
    },
    Signal {
        id: u64,
        signal: i32,
    },
    /// Kill the command's process group and session.
    Kill {
        id: u64,
    },
}

/// Agent to server. Untrusted: validated on receipt.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum AgentEvent {
    /// Setup done; the `/work` directory descriptor comes attached.
    Ready,
    SetupFailed(RemoteError),
    /// The command runs; its stdio / pty / extra ends come attached.
    Started {
        id: u64,
    },
    StartFailed {
        id: u64,
        error: RemoteError,
    },
    Exited {
        id: u64,
        status: i32,
        cpu_us: u64,
        maxrss_kb: u64,
    },
}
