// The generated program, run through a BPF interpreter for both
// architectures: every rule, its argument checks, the arch and x32 guards.
import t from 'tap'
import { archSpec, seccompArchFor, type SeccompArch } from '../../../launcher/seccomp/arch-spec.js'
import { decode } from '../../../launcher/seccomp/bpf.js'
import { actionValue, buildSeccompFilter } from '../../../launcher/seccomp/build-filter.js'
import { SECCOMP_RULES, TIOCLINUX, TIOCSTI, type SeccompRule } from '../../../launcher/seccomp/rules.js'
import { SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS } from '../../../launcher/seccomp/seccomp-abi.js'
import type { SyscallName } from '../../../launcher/seccomp/syscall-name.js'
import { runBpf } from './fixtures/run-bpf.js'

const EPERM = actionValue('eperm')
const ENOSYS = actionValue('enosys')
const AUDIT_ARCH_I386 = 0x40000003
const AUDIT_ARCH_ARM = 0x40000028

const PROGRAMS = { x64: decode(buildSeccompFilter('x64')), arm64: decode(buildSeccompFilter('arm64')) }

function verdict(arch: SeccompArch, name: SyscallName | number, args: readonly bigint[] = [], auditArch?: number): number {
  const spec = archSpec(arch)
  const nr = typeof name === 'number' ? name : spec.syscalls[name]
  return runBpf(PROGRAMS[arch], { nr, arch: auditArch ?? spec.auditArch, args })
}

// [why, syscall, args, expected]: argument checks on both sides of the line.
const ARG_ROWS: ReadonlyArray<[string, SyscallName, bigint[], number]> = [
  ['socket(AF_UNIX) is denied', 'socket', [1n, 1n, 0n], EPERM],
  ['socket(AF_INET) is allowed', 'socket', [2n, 1n, 0n], SECCOMP_RET_ALLOW],
  ['socket(AF_INET6) is allowed', 'socket', [10n, 2n, 0n], SECCOMP_RET_ALLOW],
  ['socket(AF_UNIX) with junk in the high word is still AF_UNIX to the kernel', 'socket', [0x1_0000_0001n], EPERM],
  ['ioctl TIOCSTI is denied', 'ioctl', [0n, BigInt(TIOCSTI), 0n], EPERM],
  ['ioctl TIOCLINUX is denied', 'ioctl', [0n, BigInt(TIOCLINUX), 0n], EPERM],
  ['ioctl TIOCSTI with high bits set is still TIOCSTI (CVE-2019-10063)', 'ioctl', [0n, 0xffff_ffff_0000_5412n], EPERM],
  ['ioctl TCGETS is allowed', 'ioctl', [0n, 0x5401n, 0n], SECCOMP_RET_ALLOW],
  ['ioctl FIONREAD is allowed', 'ioctl', [0n, 0x541bn, 0n], SECCOMP_RET_ALLOW],
  ['clone for a thread (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|…) is allowed', 'clone', [0x3d0f00n], SECCOMP_RET_ALLOW],
  ['clone for fork (SIGCHLD) is allowed', 'clone', [17n], SECCOMP_RET_ALLOW],
  ['clone with CLONE_NEWUSER is denied', 'clone', [0x10000000n | 17n], EPERM],
  ['clone with CLONE_NEWNET is denied', 'clone', [0x40000000n], EPERM],
  ['clone with CLONE_NEWNS is denied', 'clone', [0x00020000n], EPERM],
  ['clone with CLONE_NEWCGROUP is denied', 'clone', [0x02000000n], EPERM],
  ['personality(PER_LINUX) is allowed', 'personality', [0n], SECCOMP_RET_ALLOW],
  ['personality(0xffffffff) only queries and is allowed', 'personality', [0xffffffffn], SECCOMP_RET_ALLOW],
  ['personality(ADDR_NO_RANDOMIZE) is denied', 'personality', [0x0040000n], EPERM],
  ['personality(READ_IMPLIES_EXEC) is denied', 'personality', [0x0400000n], EPERM],
]

for (const arch of ['x64', 'arm64'] as const) {
  t.test(`${arch}: every syscall of every rule gets the rule's action`, async (t) => {
    for (const rule of SECCOMP_RULES.filter((r) => r.when === undefined)) {
      for (const name of rule.syscalls) t.equal(verdict(arch, name), actionValue(rule.action), `${name}: ${rule.why}`)
    }
  })

  t.test(`${arch}: argument checks`, async (t) => {
    for (const [why, name, args, expected] of ARG_ROWS) t.equal(verdict(arch, name, args), expected, why)
  })

  t.test(`${arch}: syscalls not in the rules are allowed`, async (t) => {
    const denied = new Set(SECCOMP_RULES.flatMap((r) => r.syscalls.map((n) => archSpec(arch).syscalls[n])))
    for (let nr = 0; nr < 500; nr++) {
      if (!denied.has(nr)) t.equal(verdict(arch, nr), SECCOMP_RET_ALLOW, `nr ${nr}`, { diagnostic: false })
    }
  })

  t.test(`${arch}: io_uring and clone3 get ENOSYS so callers fall back`, async (t) => {
    for (const name of ['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'clone3'] as const) t.equal(verdict(arch, name), ENOSYS, name)
  })
}

t.test('x64: a foreign architecture is killed, whatever the number', async (t) => {
  t.equal(verdict('x64', 20, [], AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS, 'i386 getpid via int 0x80')
  t.equal(verdict('x64', 'socket', [2n], archSpec('arm64').auditArch), SECCOMP_RET_KILL_PROCESS, 'an aarch64 call on the x86_64 filter')
})

t.test('x64: x32 syscalls (nr | 0x40000000) are killed, the same number without the bit is not', async (t) => {
  t.equal(verdict('x64', 0x40000000 | 39), SECCOMP_RET_KILL_PROCESS, 'x32 getpid')
  t.equal(verdict('x64', 0x40000000 | 41, [2n]), SECCOMP_RET_KILL_PROCESS, 'x32 socket(AF_INET)')
  t.equal(verdict('x64', 39), SECCOMP_RET_ALLOW, 'getpid')
})

t.test('arm64: a 32-bit arm call and an x86_64 call are killed; there is no x32 check', async (t) => {
  t.equal(verdict('arm64', 20, [], AUDIT_ARCH_ARM), SECCOMP_RET_KILL_PROCESS, 'compat arm')
  t.equal(verdict('arm64', 39, [], archSpec('x64').auditArch), SECCOMP_RET_KILL_PROCESS, 'x86_64 on arm64')
  t.equal(verdict('arm64', 0x40000000 | 39), SECCOMP_RET_ALLOW, 'a high number is just an unknown syscall (ENOSYS from the kernel)')
})

t.test('the two architectures get different programs from the same rules', async (t) => {
  t.not(buildSeccompFilter('x64').toString('hex'), buildSeccompFilter('arm64').toString('hex'))
  t.equal(verdict('x64', 41, [2n]), SECCOMP_RET_ALLOW, 'on x86_64, 41 is socket, and AF_INET passes')
  t.equal(verdict('arm64', 41, [2n]), EPERM, 'on aarch64, 41 is pivot_root')
})

t.test('stays short, and far from the 255 jump limit by construction', async (t) => {
  for (const arch of ['x64', 'arm64'] as const) {
    const program = decode(buildSeccompFilter(arch))
    t.ok(program.length < 200, `${arch}: ${program.length} instructions`)
    t.ok(program.every((i) => i.jt < 16 && i.jf < 16), `${arch}: every jump is local to its block`)
  }
})

t.test('a syscall named in two rules is a configuration error', async (t) => {
  const dup: SeccompRule[] = [
    { syscalls: ['mount'], action: 'eperm', why: 'a' },
    { syscalls: ['mount'], action: 'enosys', why: 'b' },
  ]
  t.throws(() => buildSeccompFilter('x64', dup), /GUARDED_SECCOMP_BAD_RULES: 'mount'/)
})

t.test('maps process.arch and refuses what it does not support', async (t) => {
  t.equal(seccompArchFor('x64'), 'x64')
  t.equal(seccompArchFor('arm64'), 'arm64')
  t.throws(() => seccompArchFor('ia32'), /GUARDED_SECCOMP_UNSUPPORTED_ARCH/)
  t.throws(() => buildSeccompFilter('riscv64' as SeccompArch), /GUARDED_SECCOMP_UNSUPPORTED_ARCH/)
})
