// What the sandboxed agent may not do, as data. build-filter.ts turns this
// list into BPF; anything not named here is allowed. Every argument check
// compares only the LOW 32 bits of the argument: each argument checked here
// is an `int` or `unsigned int` in the kernel (or, for clone, truncated with
// lower_32_bits() in kernel/fork.c), so the high word is ignored by the
// kernel and must be ignored by us too, or a caller could set a high bit to
// slip past an exact 64-bit match (CVE-2019-10063, flatpak's TIOCSTI filter).
import type { SyscallName } from './syscall-name.js'

/** What a matching call gets: an errno (never a kill, so programs fail with a clear message). */
export type RuleAction = 'eperm' | 'enosys'

/** A test on the low 32 bits of one syscall argument; the rule applies when it holds. */
export type ArgCheck =
  | { readonly arg: number; readonly op: 'in'; readonly values: readonly number[] }
  | { readonly arg: number; readonly op: 'notIn'; readonly values: readonly number[] }
  | { readonly arg: number; readonly op: 'anyBit'; readonly mask: number }

/** One deny rule: these syscalls (when the check holds, if any) get this action, for this reason. */
export interface SeccompRule {
  readonly syscalls: readonly SyscallName[]
  readonly when?: ArgCheck
  readonly action: RuleAction
  readonly why: string
}

/** AF_UNIX (= AF_LOCAL), include/linux/socket.h. */
export const AF_UNIX = 1

/** TIOCSTI and TIOCLINUX, include/uapi/asm-generic/ioctls.h (same on x86_64 and arm64). */
export const TIOCSTI = 0x5412
/** See TIOCSTI. */
export const TIOCLINUX = 0x541c

/**
 * CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (include/uapi/linux/sched.h).
 * CLONE_NEWTIME (0x80) is absent on purpose: in clone() that bit is part of the
 * exit signal (CSIGNAL), so it can only be asked for via unshare/clone3, both denied.
 */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000

/** personality(2) values left alone: PER_LINUX, and 0xffffffff which only queries. */
export const PERSONALITY_ALLOWED = Object.freeze([0x0, 0xffffffff])

/** The deny list. A syscall may appear in at most one rule (build-filter.ts checks). */
export const SECCOMP_RULES: readonly SeccompRule[] = Object.freeze([
  { syscalls: ['unshare', 'setns'], action: 'eperm',
    why: 'new or foreign namespaces would undo the sandbox (user namespaces reopen kernel attack surface; CLONE_FS/FILES-only unshare is rare enough to lose)' },
  { syscalls: ['clone'], when: { arg: 0, op: 'anyBit', mask: CLONE_NAMESPACE_FLAGS }, action: 'eperm',
    why: 'clone with CLONE_NEW* creates namespaces; flags are arg 0 on x86_64 and arm64, so plain fork/thread clones pass' },
  { syscalls: ['clone3'], action: 'enosys',
    why: 'clone3 flags live in memory BPF cannot read; ENOSYS makes glibc and others fall back to clone, which we can check (clone3(2))' },
  { syscalls: ['mount', 'umount2', 'pivot_root'], action: 'eperm',
    why: 'changing the mount tree could unhide or replace what bwrap bound read-only' },
  { syscalls: ['open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr', 'open_tree_attr'], action: 'eperm',
    why: 'the new mount API (Linux 5.2+, open_tree_attr 6.15) does what mount(2) does, by other syscalls' },
  { syscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev'], action: 'eperm',
    why: 'reading or steering another process in the sandbox (ptrace(2), process_vm_readv(2)) is an escape and a secret leak' },
  { syscalls: ['pidfd_getfd'], action: 'eperm',
    why: 'steals a file descriptor from another process, gated by the same PTRACE_MODE_ATTACH check (pidfd_getfd(2))' },
  { syscalls: ['socket'], when: { arg: 0, op: 'in', values: [AF_UNIX] }, action: 'eperm',
    why: 'AF_UNIX sockets reach host daemons (docker.sock, D-Bus, ssh-agent) past the egress proxy; socketpair stays allowed for libuv' },
  { syscalls: ['ioctl'], when: { arg: 1, op: 'in', values: [TIOCSTI, TIOCLINUX] }, action: 'eperm',
    why: 'TIOCSTI/TIOCLINUX push keystrokes into the controlling terminal, run after the agent exits (CVE-2017-5226)' },
  { syscalls: ['io_uring_setup', 'io_uring_enter', 'io_uring_register'], action: 'enosys',
    why: 'io_uring performs I/O the filter never sees and is a rich kernel attack surface; ENOSYS makes libuv fall back to epoll/threads' },
  { syscalls: ['bpf'], action: 'eperm',
    why: 'eBPF is kernel attack surface and can observe other processes' },
  { syscalls: ['perf_event_open'], action: 'eperm',
    why: 'perf can profile other processes and leak kernel addresses (perf_event_open(2), perf_event_paranoid)' },
  { syscalls: ['keyctl', 'add_key', 'request_key'], action: 'eperm',
    why: 'the kernel keyring is not namespaced: it could read or plant the host user\'s keys' },
  { syscalls: ['userfaultfd'], action: 'eperm',
    why: 'userfaultfd stalls kernel copies at will, a standard tool for widening kernel race exploits' },
  { syscalls: ['kexec_load', 'kexec_file_load'], action: 'eperm',
    why: 'loading a new kernel is never an agent\'s business' },
  { syscalls: ['init_module', 'finit_module', 'delete_module'], action: 'eperm',
    why: 'loading or unloading kernel modules is never an agent\'s business' },
  { syscalls: ['personality'], when: { arg: 0, op: 'notIn', values: PERSONALITY_ALLOWED }, action: 'eperm',
    why: 'other personalities turn off ASLR (ADDR_NO_RANDOMIZE) or make reads executable (READ_IMPLIES_EXEC)' },
])
