// Cross-checks our syscall numbers against the kernel's UAPI headers where the
// machine has them (Debian's linux-libc-dev). asm-generic/unistd.h is the
// aarch64 table, so this checks arm64 numbers without arm64 hardware.
import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'
import { SYSCALLS_ARM64 } from '../../../launcher/seccomp/syscalls-arm64.js'
import { SYSCALLS_X64 } from '../../../launcher/seccomp/syscalls-x64.js'
import { SYSCALL_NAMES, type SyscallTable } from '../../../launcher/seccomp/syscall-name.js'

const HEADERS: ReadonlyArray<[string, SyscallTable, string]> = [
  ['x64', SYSCALLS_X64, '/usr/include/x86_64-linux-gnu/asm/unistd_64.h'],
  ['arm64', SYSCALLS_ARM64, '/usr/include/asm-generic/unistd.h'],
]

function headerNumbers(path: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const m of readFileSync(path, 'utf8').matchAll(/^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$/gm)) found.set(m[1] ?? '', Number(m[2]))
  return found
}

for (const [arch, table, header] of HEADERS) {
  t.test(`${arch} numbers match ${header}`, { skip: existsSync(header) ? false : `${header} not present (apt-get install linux-libc-dev)` }, async (t) => {
    const fromHeader = headerNumbers(header)
    const checked = SYSCALL_NAMES.filter((name) => fromHeader.has(name))
    t.ok(checked.length >= 30, `header knows ${checked.length} of ${SYSCALL_NAMES.length} names (newer ones may postdate it)`)
    for (const name of checked) t.equal(table[name], fromHeader.get(name), name)
  })
}

t.test('no two names share a number within one table', async (t) => {
  for (const [arch, table] of HEADERS) t.equal(new Set(Object.values(table)).size, SYSCALL_NAMES.length, arch)
})
