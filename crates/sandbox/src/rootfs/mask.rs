//! What the sandbox's root hides of the host although it is on a bound or kernel filesystem:
//! `/proc` files that describe the host rather than the sandbox (its boot arguments, kernel
//! memory, keys, timers) read as empty, as in Docker's and runc's masked paths, and directories
//! an operator may keep private files in are empty. `/proc` is also mounted with `hidepid=2`
//! (see [`super::build`]): a process is listed only to those that may ptrace it, so the agent
//! (pid 1, not dumpable), its command line (the host path of the binary) and its descriptors
//! are invisible to the programs.

use std::fs;

use super::{mount, NEWROOT};
use crate::agent::StepError;

/// `/proc` files bound over by `/dev/null`: reads are empty, writes vanish.
const PROC_FILES: &[&str] = &[
    "cmdline",
    "kcore",
    "keys",
    "key-users",
    "timer_list",
    "sched_debug",
    "latency_stats",
    "timer_stats",
    "sysrq-trigger",
];
/// Directories covered by an empty read-only tmpfs.
const EMPTY_DIRS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/scsi",
    "/proc/driver",
    "/usr/local/etc",
];

/// Masks what is listed above under the new root (which must have its `/proc` and system
/// directories in place).
pub(super) fn mask() -> Result<(), StepError> {
    for name in PROC_FILES {
        let target = format!("{NEWROOT}/proc/{name}");
        if fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_file()) {
            mount(Some("/dev/null"), &target, None, libc::MS_BIND, None)?;
        }
    }
    for dir in EMPTY_DIRS {
        let target = format!("{NEWROOT}{dir}");
        // Never a symlink: its target would be resolved on the host's side.
        if fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_dir()) {
            mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                Some("size=4k,nr_inodes=2,mode=0555"),
            )?;
        }
    }
    Ok(())
}
