// What the filter needs to know about each supported architecture.
import { SYSCALLS_ARM64 } from './syscalls-arm64.js'
import { SYSCALLS_X64 } from './syscalls-x64.js'
import type { SyscallTable } from './syscall-name.js'

/** A supported architecture, spelled as Node's `process.arch` spells it. */
export type SeccompArch = 'x64' | 'arm64'

/** The facts the filter is built from for one architecture. */
export interface ArchSpec {
  /** AUDIT_ARCH_* value the kernel puts in seccomp_data.arch (include/uapi/linux/audit.h). */
  readonly auditArch: number
  /** Syscall numbers for this architecture's native ABI. */
  readonly syscalls: SyscallTable
  /**
   * Bit that marks an x32 syscall, if the architecture has x32: x32 shares
   * AUDIT_ARCH_X86_64, so only the number tells it apart (seccomp(2), "Caveats").
   */
  readonly x32SyscallBit: number | undefined
}

const SPECS: Readonly<Record<SeccompArch, ArchSpec>> = Object.freeze({
  x64: Object.freeze({ auditArch: 0xc000003e, syscalls: SYSCALLS_X64, x32SyscallBit: 0x40000000 }),
  arm64: Object.freeze({ auditArch: 0xc00000b7, syscalls: SYSCALLS_ARM64, x32SyscallBit: undefined }),
})

/** The spec for `arch`; throws for anything else (the caller may hold an unchecked string). */
export function archSpec(arch: SeccompArch): ArchSpec {
  const spec = SPECS[arch]
  if (spec === undefined) throw new Error(`GUARDED_SECCOMP_UNSUPPORTED_ARCH: no seccomp filter for '${String(arch)}'; supported: x64, arm64`)
  return spec
}

/** Map `process.arch` (or any such string) to a supported architecture, or throw. */
export function seccompArchFor(nodeArch: string = process.arch): SeccompArch {
  if (nodeArch === 'x64' || nodeArch === 'arm64') return nodeArch
  throw new Error(`GUARDED_SECCOMP_UNSUPPORTED_ARCH: no seccomp filter for '${nodeArch}'; supported: x64, arm64`)
}
