//! Landlock, best effort: inside the sandbox, writes are allowed only under the scratch dirs
//! and a few devices. It backs up the read-only mounts (a layer that does not depend on mount
//! flags being right); reads and execution stay governed by the mount layout.

use landlock::{
    path_beneath_rules, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, ABI,
};

/// Directories where every write-type access is allowed.
const WRITABLE_TREES: &[&str] = &["/work", "/tmp", "/dev/shm", "/dev/pts"];
/// Files that may be opened for writing (and truncated, as shells do with `>/dev/null`).
/// `/proc` is here because commands reset their `oom_score_adj`; permission checks of procfs
/// still limit a uid-1000 process to its own files.
const WRITABLE_FILES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
    "/proc",
];

/// Restricts the calling process and its future children. Returns whether Landlock enforced
/// the rules (false on kernels without it).
pub(crate) fn restrict() -> Result<bool, landlock::RulesetError> {
    // ABI 4's write set: without IoctlDev (ABI 5), which would need per-device ioctl grants
    // for terminals.
    let abi = ABI::V4;
    let write = AccessFs::from_write(abi);
    let file_write = AccessFs::WriteFile | AccessFs::Truncate;
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(write)?
        .create()?
        .add_rules(path_beneath_rules(WRITABLE_TREES, write))?
        .add_rules(path_beneath_rules(WRITABLE_FILES, file_write))?
        .restrict_self()?;
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}
