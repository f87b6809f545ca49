//! The seccomp policy: a denylist compiled with seccompiler, installed last, right before the
//! agent starts serving (and so inherited by every command).
//!
//! Three stacked filters, because seccompiler gives one action per filter:
//! 1. the x32 guard (hand-written BPF): syscall numbers with bit 30 set are the x32 ABI, which
//!    the numeric rules below would not match, so they get `ENOSYS`;
//! 2. `clone3` gets `ENOSYS`: its flags live in memory that BPF cannot inspect, and `ENOSYS`
//!    (not `EPERM`) makes glibc fall back to `clone`, whose flags we can check;
//! 3. the denylist, each rule with the reason, answering `EPERM`.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op,
    SeccompCondition as Cond, SeccompFilter, SeccompRule, TargetArch,
};

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Syscalls denied outright, with why.
const DENIED: &[(libc::c_long, &str)] = &[
    // The mount family: the sandbox's filesystem view is fixed once built.
    (libc::SYS_mount, "remounting could undo read-only binds"),
    (
        libc::SYS_umount2,
        "unmounting could reveal what is under a mount",
    ),
    (
        libc::SYS_pivot_root,
        "changing the root is the jail's job only",
    ),
    (libc::SYS_move_mount, "new mount API: same as mount"),
    (libc::SYS_open_tree, "new mount API: clones mount trees"),
    (libc::SYS_fsopen, "new mount API: creates filesystems"),
    (libc::SYS_fsmount, "new mount API: attaches filesystems"),
    (libc::SYS_fsconfig, "new mount API: configures filesystems"),
    (
        libc::SYS_fspick,
        "new mount API: reconfigures mounted filesystems",
    ),
    (
        libc::SYS_mount_setattr,
        "could clear read-only or nosuid flags",
    ),
    // Cross-process inspection.
    (
        libc::SYS_ptrace,
        "debugging other processes; a classic escape and info-leak vector",
    ),
    (libc::SYS_process_vm_readv, "reads another process's memory"),
    (
        libc::SYS_process_vm_writev,
        "writes another process's memory",
    ),
    // Large kernel attack surfaces nobody's program needs here.
    (
        libc::SYS_bpf,
        "eBPF verifier bugs are a recurring root exploit",
    ),
    (
        libc::SYS_perf_event_open,
        "perf has a long CVE history and leaks kernel addresses",
    ),
    (
        libc::SYS_io_uring_setup,
        "io_uring bypasses seccomp for the syscalls it performs",
    ),
    (libc::SYS_io_uring_enter, "io_uring: see io_uring_setup"),
    (libc::SYS_io_uring_register, "io_uring: see io_uring_setup"),
    (
        libc::SYS_userfaultfd,
        "stalls kernel page faults, a race-exploit building block",
    ),
    // Kernel keyrings are not namespaced.
    (libc::SYS_keyctl, "keyrings are shared with the host"),
    (libc::SYS_add_key, "keyrings are shared with the host"),
    (libc::SYS_request_key, "keyrings are shared with the host"),
    // Host-wide administration.
    (libc::SYS_kexec_load, "replaces the running kernel"),
    (libc::SYS_kexec_file_load, "replaces the running kernel"),
    (libc::SYS_init_module, "loads kernel code"),
    (libc::SYS_finit_module, "loads kernel code"),
    (libc::SYS_delete_module, "unloads kernel code"),
    (libc::SYS_swapon, "changes host swap"),
    (libc::SYS_swapoff, "changes host swap"),
    (
        libc::SYS_reboot,
        "reboots (or, in a pid namespace, kills it) by other means than ours",
    ),
    (libc::SYS_acct, "process accounting writes host files"),
    (
        libc::SYS_quotactl,
        "filesystem quotas are host administration",
    ),
    (
        libc::SYS_chroot,
        "a nested chroot helps escape tricks and nothing legitimate here",
    ),
    (
        libc::SYS_name_to_handle_at,
        "file handles bypass path-based checks (the shocker escape)",
    ),
    (
        libc::SYS_open_by_handle_at,
        "file handles bypass path-based checks (the shocker escape)",
    ),
    // Namespaces: without this, user code can nest user namespaces and regain capabilities.
    (libc::SYS_setns, "joining other namespaces"),
    (
        libc::SYS_unshare,
        "new namespaces give capabilities over new kernel surface",
    ),
];

#[cfg(target_arch = "x86_64")]
const DENIED_ARCH: &[(libc::c_long, &str)] = &[(
    libc::SYS_lookup_dcookie,
    "profiling interface that leaks kernel paths",
)];
#[cfg(not(target_arch = "x86_64"))]
const DENIED_ARCH: &[(libc::c_long, &str)] = &[];

/// `clone` flags that create namespaces: each is its own rule (there is no "any bit set" op).
const CLONE_NEW_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
    0x80, // CLONE_NEWTIME
];

/// Personalities allowed (Docker's list); anything else, e.g. READ_IMPLIES_EXEC or
/// ADDR_NO_RANDOMIZE combos beyond these, is refused.
const PERSONALITIES: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The socket families a sandboxed program may use.
const SOCKET_FAMILIES: &[libc::c_int] = &[libc::AF_UNIX, libc::AF_INET, libc::AF_INET6];

fn cond(arg: u8, len: Len, op: Op, value: u64) -> Result<Cond, seccompiler::BackendError> {
    Cond::new(arg, len, op, value)
}

/// The compiled filters, in installation order.
pub(crate) fn build() -> Result<Vec<BpfProgram>, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (nr, _why) in DENIED.iter().chain(DENIED_ARCH) {
        rules.insert(*nr, Vec::new());
    }
    // clone with any CLONE_NEW* flag (flags are argument 0 on x86_64 and aarch64).
    let mut clone_rules = Vec::new();
    for flag in CLONE_NEW_FLAGS {
        let flag = *flag as u64;
        clone_rules.push(SeccompRule::new(vec![cond(
            0,
            Len::Qword,
            Op::MaskedEq(flag),
            flag,
        )?])?);
    }
    rules.insert(libc::SYS_clone, clone_rules);
    // TIOCSTI pushes input into a terminal's queue (a typed command for whoever reads it);
    // TIOCLINUX can do the same on virtual consoles.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            SeccompRule::new(vec![cond(1, Len::Dword, Op::Eq, libc::TIOCSTI)?])?,
            SeccompRule::new(vec![cond(1, Len::Dword, Op::Eq, 0x541C)?])?,
        ],
    );
    // Sockets of the allowed families only (as Docker's profile, but as an allow-list): the
    // others reach past the network namespace (AF_VSOCK to the hypervisor on a VM), talk to
    // kernel subsystems (AF_NETLINK, AF_ALG) or see raw frames (AF_PACKET).
    let foreign_family: Result<Vec<Cond>, _> = SOCKET_FAMILIES
        .iter()
        .map(|family| cond(0, Len::Dword, Op::Ne, *family as u64))
        .collect();
    let foreign_family = foreign_family?;
    rules.insert(
        libc::SYS_socket,
        vec![SeccompRule::new(foreign_family.clone())?],
    );
    rules.insert(
        libc::SYS_socketpair,
        vec![SeccompRule::new(foreign_family)?],
    );
    // Unusual personalities change the memory layout (READ_IMPLIES_EXEC, ...).
    let personality: Result<Vec<Cond>, _> = PERSONALITIES
        .iter()
        .map(|p| cond(0, Len::Dword, Op::Ne, *p))
        .collect();
    rules.insert(libc::SYS_personality, vec![SeccompRule::new(personality?)?]);

    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        ARCH,
    )?;
    let mut clone3 = BTreeMap::new();
    clone3.insert(libc::SYS_clone3, Vec::new());
    let clone3 = SeccompFilter::new(
        clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        ARCH,
    )?;

    let programs: Vec<BpfProgram> = vec![
        #[cfg(target_arch = "x86_64")]
        x32_guard(),
        clone3.try_into()?,
        deny.try_into()?,
    ];
    Ok(programs)
}

/// `nr >= 0x40000000` (the x32 ABI bit) → `ENOSYS`, everything else allowed (the other filters
/// check the architecture and kill foreign-ABI calls).
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> BpfProgram {
    use seccompiler::sock_filter;
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JGE_K: u16 = 0x35;
    const BPF_RET_K: u16 = 0x06;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        // seccomp_data.nr is at offset 0.
        ins(BPF_LD_W_ABS, 0, 0, 0),
        ins(BPF_JGE_K, 0, 1, 0x4000_0000),
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        ins(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
}

/// Installs the filters on the calling thread (needs `no_new_privs`).
pub(crate) fn install(programs: &[BpfProgram]) -> std::io::Result<()> {
    for program in programs {
        seccompiler::apply_filter(program).map_err(std::io::Error::other)?;
    }
    Ok(())
}
