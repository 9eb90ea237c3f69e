// x86_64 numbers, from arch/x86/entry/syscalls/syscall_64.tbl ("common"/"64"
// rows; x32 is refused wholesale, see build-filter.ts). Cross-checked against
// <asm/unistd_64.h> by test/launcher/seccomp/syscall-tables.test.ts.
import type { SyscallTable } from './syscall-name.js'

/** x86_64 syscall numbers for every name the rules use. */
export const SYSCALLS_X64 = Object.freeze({
  unshare: 272,
  setns: 308,
  clone: 56,
  clone3: 435,
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  open_tree_attr: 467,
  ptrace: 101,
  process_vm_readv: 310,
  process_vm_writev: 311,
  pidfd_getfd: 438,
  socket: 41,
  ioctl: 16,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
  bpf: 321,
  perf_event_open: 298,
  keyctl: 250,
  add_key: 248,
  request_key: 249,
  userfaultfd: 323,
  kexec_load: 246,
  kexec_file_load: 320,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  personality: 135,
} satisfies SyscallTable)
