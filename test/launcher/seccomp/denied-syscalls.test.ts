// Every denied syscall that can be reached harmlessly, called raw (ctypes
// syscall(2)) in one sandboxed python, with and without the filter. A row
// counts only if the kernel alone would answer differently, so removing a
// rule fails the test. Numbers come from our own table for this machine.
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { archSpec, seccompArchFor } from '../../../launcher/seccomp/arch-spec.js'
import { buildSeccompFilter } from '../../../launcher/seccomp/build-filter.js'
import type { SyscallName } from '../../../launcher/seccomp/syscall-name.js'
import { runSandboxed, sandboxUnavailable } from './fixtures/run-sandboxed.js'

type Arg = number | string | { buf: number }
type Expect = 'EPERM' | 'ENOSYS' | 'allowed'
interface Row { label: string; syscall: SyscallName; args: Arg[]; expect: Expect; forks?: boolean }

const AT_FDCWD = -100
const SIGCHLD = 17
const ROWS: Row[] = [
  { label: 'unshare(CLONE_NEWNET)', syscall: 'unshare', args: [0x40000000], expect: 'EPERM' },
  { label: 'setns', syscall: 'setns', args: [-1, 0], expect: 'EPERM' },
  { label: 'clone(CLONE_NEWUSER|SIGCHLD)', syscall: 'clone', args: [0x10000000 | SIGCHLD, 0, 0, 0, 0], expect: 'EPERM', forks: true },
  { label: 'clone(SIGCHLD), i.e. fork', syscall: 'clone', args: [SIGCHLD, 0, 0, 0, 0], expect: 'allowed', forks: true },
  { label: 'clone3', syscall: 'clone3', args: [0, 0], expect: 'ENOSYS' },
  { label: 'mount tmpfs', syscall: 'mount', args: ['none', '/mnt', 'tmpfs', 0, 0], expect: 'EPERM' },
  { label: 'umount2', syscall: 'umount2', args: ['/tmp', 0], expect: 'EPERM' },
  { label: 'pivot_root', syscall: 'pivot_root', args: ['/nonexistent', '/nonexistent'], expect: 'EPERM' },
  { label: 'fsopen', syscall: 'fsopen', args: ['tmpfs', 0], expect: 'EPERM' },
  { label: 'open_tree(OPEN_TREE_CLONE)', syscall: 'open_tree', args: [AT_FDCWD, '/tmp', 1], expect: 'EPERM' },
  { label: 'fspick', syscall: 'fspick', args: [AT_FDCWD, '/tmp', 0], expect: 'EPERM' },
  { label: 'mount_setattr', syscall: 'mount_setattr', args: [AT_FDCWD, '/tmp', 0, 0, 0], expect: 'EPERM' },
  { label: 'move_mount', syscall: 'move_mount', args: [-1, '', -1, '', 0], expect: 'EPERM' },
  { label: 'fsconfig', syscall: 'fsconfig', args: [-1, 0, 0, 0, 0], expect: 'EPERM' },
  { label: 'fsmount', syscall: 'fsmount', args: [-1, 0, 0], expect: 'EPERM' },
  { label: 'ptrace(PTRACE_PEEKDATA, no such pid)', syscall: 'ptrace', args: [2, 0x7ffffff0, 0, 0], expect: 'EPERM' },
  { label: 'process_vm_readv(self, nothing)', syscall: 'process_vm_readv', args: [0, 0, 0, 0, 0, 0], expect: 'EPERM' },
  { label: 'pidfd_getfd', syscall: 'pidfd_getfd', args: [-1, 0, 0], expect: 'EPERM' },
  { label: 'socket(AF_UNIX)', syscall: 'socket', args: [1, 1, 0], expect: 'EPERM' },
  { label: 'socket(AF_INET)', syscall: 'socket', args: [2, 1, 0], expect: 'allowed' },
  { label: 'io_uring_setup', syscall: 'io_uring_setup', args: [1, { buf: 120 }], expect: 'ENOSYS' },
  { label: 'io_uring_enter', syscall: 'io_uring_enter', args: [-1, 0, 0, 0, 0, 0], expect: 'ENOSYS' },
  { label: 'io_uring_register', syscall: 'io_uring_register', args: [-1, 0, 0, 0], expect: 'ENOSYS' },
  { label: 'bpf', syscall: 'bpf', args: [-1, 0, 0], expect: 'EPERM' },
  { label: 'perf_event_open', syscall: 'perf_event_open', args: [0, 0, -1, -1, 0], expect: 'EPERM' },
  { label: 'keyctl(KEYCTL_GET_KEYRING_ID)', syscall: 'keyctl', args: [0, -2, 0], expect: 'EPERM' },
  { label: 'add_key', syscall: 'add_key', args: [0, 0, 0, 0, 0], expect: 'EPERM' },
  { label: 'request_key', syscall: 'request_key', args: [0, 0, 0, 0], expect: 'EPERM' },
  { label: 'userfaultfd(UFFD_USER_MODE_ONLY)', syscall: 'userfaultfd', args: [1], expect: 'EPERM' },
  { label: 'personality(ADDR_NO_RANDOMIZE)', syscall: 'personality', args: [0x0040000], expect: 'EPERM' },
  { label: 'personality(query)', syscall: 'personality', args: [0xffffffff], expect: 'allowed' },
]

interface Outcome { name: string; ret: number; errno: number }

const SCRIPT = fileURLToPath(new URL('./fixtures/call-syscalls.py', import.meta.url))
const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 38: 'ENOSYS' }

function callAll(filter?: Buffer): Map<string, string> {
  const table = archSpec(seccompArchFor()).syscalls
  const calls = ROWS.map((r) => ({ name: r.label, nr: table[r.syscall], args: r.args, forks: r.forks ?? false }))
  const r = runSandboxed(['python3', SCRIPT, JSON.stringify(calls)], filter)
  if (r.status !== 0) throw new Error(`call-syscalls.py failed (${r.status}): ${r.stderr}`)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Outcome)
  return new Map(lines.map((o) => [o.name, o.ret >= 0 ? 'allowed' : (ERRNO_NAMES[o.errno] ?? `errno ${o.errno}`)]))
}

t.test('raw syscalls see the filter\'s errno, and would not without it', { skip: sandboxUnavailable() ?? false }, async (t) => {
  const filtered = callAll(buildSeccompFilter(seccompArchFor()))
  const bare = callAll()
  for (const row of ROWS) {
    t.equal(filtered.get(row.label), row.expect, `${row.label}: with the filter`)
    if (row.expect !== 'allowed') t.not(bare.get(row.label), row.expect, `${row.label}: the kernel alone says ${bare.get(row.label)}`)
  }
})
