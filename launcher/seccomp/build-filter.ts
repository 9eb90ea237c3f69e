// Turns the rule list into the classic-BPF program bwrap installs with
// `--seccomp FD` (bwrap(1)). Layout, top to bottom:
//   1. wrong AUDIT_ARCH -> kill   (seccomp(2): check arch first, numbers differ per ABI)
//   2. x32 number on x86_64 -> kill
//   3. one short block per denied syscall: `nr != N -> skip block`; the block
//      checks arguments and returns. Every jump stays inside its block, so no
//      offset nears the 255 limit however many rules there are; the assembler
//      throws if one ever does.
//   4. allow
// Allowed syscalls never load an argument, which lets the kernel's per-syscall
// action cache (Linux 5.11+, kernel/seccomp.c) skip the filter for them.
import { archSpec, type ArchSpec, type SeccompArch } from './arch-spec.js'
import { assemble, encode, jeq, jge, jset, label, ldAbs, ret, type AsmItem } from './bpf.js'
import { SECCOMP_RULES, type ArgCheck, type RuleAction, type SeccompRule } from './rules.js'
import {
  ARCH_OFFSET, ERRNO, NR_OFFSET, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, argLowOffset,
} from './seccomp-abi.js'

/** The seccomp program for `arch`, as the `struct sock_filter[]` bytes bwrap reads from `--seccomp FD`. */
export function buildSeccompFilter(arch: SeccompArch, rules: readonly SeccompRule[] = SECCOMP_RULES): Buffer {
  const spec = archSpec(arch)
  assertEachSyscallOnce(rules)
  return encode(assemble([...archGuard(spec), ...rules.flatMap((rule) => ruleBlocks(rule, spec)), ret(SECCOMP_RET_ALLOW)]))
}

/** The SECCOMP_RET_* value for a rule action. */
export function actionValue(action: RuleAction): number {
  return SECCOMP_RET_ERRNO | (action === 'enosys' ? ERRNO.ENOSYS : ERRNO.EPERM)
}

// Foreign-arch calls (e.g. i386 `int 0x80` on x86_64) use another numbering,
// and x32 shares AUDIT_ARCH_X86_64, so both are killed before any nr check.
// Leaves A = nr.
function archGuard(spec: ArchSpec): AsmItem[] {
  const items = [ldAbs(ARCH_OFFSET), jeq(spec.auditArch, 1, 0), ret(SECCOMP_RET_KILL_PROCESS), ldAbs(NR_OFFSET)]
  if (spec.x32SyscallBit === undefined) return items
  return [...items, jge(spec.x32SyscallBit, 0, 1), ret(SECCOMP_RET_KILL_PROCESS)]
}

// One block per syscall. Each block is entered with A = nr; a block that loads
// an argument always returns, so A = nr still holds for the next block.
function ruleBlocks(rule: SeccompRule, spec: ArchSpec): AsmItem[] {
  return rule.syscalls.flatMap((name) => {
    const end = `end:${name}`
    return [jeq(spec.syscalls[name], 0, end), ...blockBody(name, rule), label(end)]
  })
}

function blockBody(name: string, rule: SeccompRule): AsmItem[] {
  const act = ret(actionValue(rule.action))
  if (rule.when === undefined) return [act]
  const load = ldAbs(argLowOffset(rule.when.arg))
  if (rule.when.op === 'notIn') {
    const pass = `pass:${name}`
    return [load, ...rule.when.values.map((v) => jeq(v, pass, 0)), act, label(pass), ret(SECCOMP_RET_ALLOW)]
  }
  const hit = `hit:${name}`
  return [load, ...matchJumps(rule.when, hit), ret(SECCOMP_RET_ALLOW), label(hit), act]
}

// Jumps to `hit` when the check holds, else falls through.
function matchJumps(check: Exclude<ArgCheck, { op: 'notIn' }>, hit: string): AsmItem[] {
  if (check.op === 'anyBit') return [jset(check.mask, hit, 0)]
  return check.values.map((v) => jeq(v, hit, 0))
}

function assertEachSyscallOnce(rules: readonly SeccompRule[]): void {
  const seen = new Set<string>()
  for (const name of rules.flatMap((r) => r.syscalls)) {
    if (seen.has(name)) throw new Error(`GUARDED_SECCOMP_BAD_RULES: '${name}' appears in more than one rule`)
    seen.add(name)
  }
}
