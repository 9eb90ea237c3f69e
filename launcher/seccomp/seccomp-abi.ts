// Kernel ABI constants the filter is written against. Values from
// include/uapi/linux/seccomp.h, include/uapi/linux/audit.h and
// include/uapi/asm-generic/errno*.h; see also seccomp(2).

/** Kill every thread of the process with SIGSYS (Linux 4.14+, seccomp(2)). */
export const SECCOMP_RET_KILL_PROCESS = 0x80000000

/** Fail the call with the errno in the low 16 bits (seccomp(2)). */
export const SECCOMP_RET_ERRNO = 0x00050000

/** Let the call through (seccomp(2)). */
export const SECCOMP_RET_ALLOW = 0x7fff0000

/** errno values: asm-generic, so identical on x86_64 and aarch64. */
export const ERRNO = Object.freeze({ EPERM: 1, ENOSYS: 38 })

/** Offset of `int nr` in `struct seccomp_data` (seccomp(2)). */
export const NR_OFFSET = 0

/** Offset of `__u32 arch` (an AUDIT_ARCH_* value) in `struct seccomp_data`. */
export const ARCH_OFFSET = 4

/**
 * Offset of the low 32 bits of syscall argument `index` (0..5). `args` is
 * `__u64[6]` at offset 16; both supported architectures are little-endian,
 * so the low word comes first. Classic BPF loads only 32 bits at a time.
 */
export function argLowOffset(index: number): number {
  if (!Number.isInteger(index) || index < 0 || index > 5) throw new RangeError(`syscall argument index ${index} is not 0..5`)
  return 16 + 8 * index
}

/** Longest program the kernel accepts (BPF_MAXINSNS, include/uapi/linux/bpf_common.h). */
export const BPF_MAXINSNS = 4096
