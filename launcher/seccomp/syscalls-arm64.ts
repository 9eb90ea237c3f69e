// aarch64 numbers: arm64 uses the generic table, include/uapi/asm-generic/unistd.h
// (no socketcall, no x32). Cross-checked against that header by
// test/launcher/seccomp/syscall-tables.test.ts.
import type { SyscallTable } from './syscall-name.js'

/** aarch64 syscall numbers for every name the rules use. */
export const SYSCALLS_ARM64 = Object.freeze({
  unshare: 97,
  setns: 268,
  clone: 220,
  clone3: 435,
  mount: 40,
  umount2: 39,
  pivot_root: 41,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  open_tree_attr: 467,
  ptrace: 117,
  process_vm_readv: 270,
  process_vm_writev: 271,
  pidfd_getfd: 438,
  socket: 198,
  ioctl: 29,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  bpf: 280,
  perf_event_open: 241,
  keyctl: 219,
  add_key: 217,
  request_key: 218,
  userfaultfd: 282,
  kexec_load: 104,
  kexec_file_load: 294,
  init_module: 105,
  finit_module: 273,
  delete_module: 106,
  personality: 92,
} satisfies SyscallTable)
