// A tiny classic-BPF assembler: encoders for the handful of instructions a
// seccomp filter needs, label resolution, and the byte layout bwrap reads.
// Opcodes from include/uapi/linux/bpf_common.h and filter.h; semantics in
// Documentation/networking/filter.rst ("classic BPF").
import { BPF_MAXINSNS } from './seccomp-abi.js'

/** One resolved `struct sock_filter`: u16 code, u8 jt, u8 jf, u32 k. */
export interface Instruction {
  readonly code: number
  readonly jt: number
  readonly jf: number
  readonly k: number
}

/** Where a conditional jump goes: a label name, or a literal forward skip (0 = next instruction). */
export type JumpTarget = string | number

/** An instruction whose jump targets may still be labels. */
export interface PendingInstruction {
  readonly code: number
  readonly jt: JumpTarget
  readonly jf: JumpTarget
  readonly k: number
}

/** A label definition: marks the position of the next instruction. */
export interface Label {
  readonly label: string
}

/** What the assembler takes: instructions and labels, in order. */
export type AsmItem = PendingInstruction | Label

/** Opcodes used here (BPF_LD|BPF_W|BPF_ABS etc.). */
export const OP = Object.freeze({
  LD_W_ABS: 0x20,
  JEQ_K: 0x15,
  JGE_K: 0x35,
  JSET_K: 0x45,
  RET_K: 0x06,
})

/** A = the 32-bit word at `offset` in struct seccomp_data. */
export function ldAbs(offset: number): PendingInstruction {
  return { code: OP.LD_W_ABS, jt: 0, jf: 0, k: offset }
}

/** if (A == k) goto jt else goto jf. */
export function jeq(k: number, jt: JumpTarget, jf: JumpTarget): PendingInstruction {
  return { code: OP.JEQ_K, jt, jf, k }
}

/** if (A >= k) goto jt else goto jf (unsigned). */
export function jge(k: number, jt: JumpTarget, jf: JumpTarget): PendingInstruction {
  return { code: OP.JGE_K, jt, jf, k }
}

/** if (A & k) goto jt else goto jf. */
export function jset(k: number, jt: JumpTarget, jf: JumpTarget): PendingInstruction {
  return { code: OP.JSET_K, jt, jf, k }
}

/** return k (a SECCOMP_RET_* value). */
export function ret(k: number): PendingInstruction {
  return { code: OP.RET_K, jt: 0, jf: 0, k }
}

/** Define a label at this point of the program. */
export function label(name: string): Label {
  return { label: name }
}

/**
 * Resolve labels to forward offsets. Classic BPF conditional jumps are u8 and
 * forward-only, so any offset outside 0..255 throws rather than wrap silently.
 */
export function assemble(items: readonly AsmItem[]): Instruction[] {
  const positions = labelPositions(items)
  const pending = items.filter((item): item is PendingInstruction => !('label' in item))
  if (pending.length > BPF_MAXINSNS) throw new Error(`GUARDED_SECCOMP_TOO_LONG: ${pending.length} instructions, the kernel allows ${BPF_MAXINSNS}`)
  return pending.map((ins, pc) => ({
    code: ins.code,
    jt: resolveJump(ins.jt, pc, positions),
    jf: resolveJump(ins.jf, pc, positions),
    k: u32(ins.k),
  }))
}

/** The program as bytes: 8 little-endian bytes per instruction, as bwrap reads from `--seccomp FD`. */
export function encode(program: readonly Instruction[]): Buffer {
  const buf = Buffer.alloc(program.length * 8)
  program.forEach((ins, i) => {
    buf.writeUInt16LE(ins.code, i * 8)
    buf.writeUInt8(ins.jt, i * 8 + 2)
    buf.writeUInt8(ins.jf, i * 8 + 3)
    buf.writeUInt32LE(ins.k, i * 8 + 4)
  })
  return buf
}

/** Inverse of `encode`, for tests and for explaining a program. */
export function decode(bytes: Buffer): Instruction[] {
  if (bytes.length % 8 !== 0) throw new Error(`GUARDED_SECCOMP_BAD_PROGRAM: ${bytes.length} bytes is not a whole number of instructions`)
  return Array.from({ length: bytes.length / 8 }, (_, i) => ({
    code: bytes.readUInt16LE(i * 8),
    jt: bytes.readUInt8(i * 8 + 2),
    jf: bytes.readUInt8(i * 8 + 3),
    k: bytes.readUInt32LE(i * 8 + 4),
  }))
}

function labelPositions(items: readonly AsmItem[]): Map<string, number> {
  const positions = new Map<string, number>()
  let pc = 0
  for (const item of items) {
    if (!('label' in item)) { pc++; continue }
    if (positions.has(item.label)) throw new Error(`GUARDED_SECCOMP_BAD_PROGRAM: label '${item.label}' defined twice`)
    positions.set(item.label, pc)
  }
  return positions
}

function resolveJump(target: JumpTarget, pc: number, positions: Map<string, number>): number {
  const offset = typeof target === 'number' ? target : labelOffset(target, pc, positions)
  if (!Number.isInteger(offset) || offset < 0 || offset > 255) {
    throw new Error(`GUARDED_SECCOMP_JUMP_RANGE: jump at ${pc} to '${target}' needs offset ${offset}; classic BPF allows 0..255 forward`)
  }
  return offset
}

function labelOffset(name: string, pc: number, positions: Map<string, number>): number {
  const at = positions.get(name)
  if (at === undefined) throw new Error(`GUARDED_SECCOMP_BAD_PROGRAM: jump at ${pc} to undefined label '${name}'`)
  return at - (pc + 1)
}

function u32(k: number): number {
  if (!Number.isInteger(k) || k < 0 || k > 0xffffffff) throw new RangeError(`BPF constant ${k} is not a u32`)
  return k
}
