// The syscalls the rules talk about. Each architecture's table must number
// every one of them (checked at compile time with `satisfies`).

/** Every syscall name a rule may mention. */
export const SYSCALL_NAMES = [
  'unshare', 'setns', 'clone', 'clone3',
  'mount', 'umount2', 'pivot_root',
  'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr', 'open_tree_attr',
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd',
  'socket', 'ioctl',
  'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'bpf', 'perf_event_open',
  'keyctl', 'add_key', 'request_key',
  'userfaultfd',
  'kexec_load', 'kexec_file_load',
  'init_module', 'finit_module', 'delete_module',
  'personality',
] as const

/** A syscall a rule may mention. */
export type SyscallName = (typeof SYSCALL_NAMES)[number]

/** A syscall-number table for one architecture. */
export type SyscallTable = Readonly<Record<SyscallName, number>>
