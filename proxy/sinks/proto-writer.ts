/**
 * The Protocol Buffers wire format (https://protobuf.dev/programming-guides/encoding/), written
 * straight into one growing buffer: no message objects, and no JavaScript strings made along the way.
 * The OTLP/protobuf span encoder (span-protobuf.ts) is its one user.
 */

/** The wire types we write. */
export const VARINT = 0
export const FIXED64 = 1
export const DELIMITED = 2
export const FIXED32 = 5
type WireType = typeof VARINT | typeof FIXED64 | typeof DELIMITED | typeof FIXED32

const TWO_32 = 2 ** 32
// int64's range: an integer outside it cannot be an int_value (OTLP writes it as a double instead).
const MIN_INT64 = -(2 ** 63)
const MAX_INT64_EXCLUSIVE = 2 ** 63

/** A message being written, field by field, in field order or any other (the format allows both). */
export class ProtoWriter {
  #buffer: Buffer
  #pos = 0

  constructor(capacity: number) {
    this.#buffer = Buffer.allocUnsafe(capacity)
  }

  /** A field's key: its number and wire type. */
  tag(field: number, wireType: WireType): void {
    this.varint(field * 8 + wireType)
  }

  /** A whole number from 0 up: uint32, uint64 (exactly, as far as a double holds it), an enum. */
  varint(value: number): void {
    this.#room(10)
    const buffer = this.#buffer
    // Bit operations are exact below 2^32; above, division by 128 still is (it only moves the exponent).
    while (value >= TWO_32) {
      buffer[this.#pos++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    while (value > 0x7f) {
      buffer[this.#pos++] = (value & 0x7f) | 0x80
      value >>>= 7
    }
    buffer[this.#pos++] = value
  }

  /** An int64: a negative number is its 64-bit two's complement, ten bytes on the wire. */
  int64(value: number): void {
    if (value >= 0) return this.varint(value)
    let bits = BigInt.asUintN(64, BigInt(value))
    this.#room(10)
    while (bits > 0x7fn) {
      this.#buffer[this.#pos++] = Number(bits & 0x7fn) | 0x80
      bits >>= 7n
    }
    this.#buffer[this.#pos++] = Number(bits)
  }

  fixed32(value: number): void {
    this.#room(4)
    this.#pos = this.#buffer.writeUInt32LE(value >>> 0, this.#pos)
  }

  /** A fixed64 of `micros * 1000`, exact where the product itself would pass 2^53 (every time since 1970 + 104 days does). */
  fixed64Nanos(micros: number): void {
    const high = Math.floor(micros / TWO_32)
    const low = (micros - high * TWO_32) * 1000 // below 2^42: exact
    const lowWord = low % TWO_32
    this.#room(8)
    this.#buffer.writeUInt32LE(lowWord, this.#pos)
    this.#buffer.writeUInt32LE(high * 1000 + (low - lowWord) / TWO_32, this.#pos + 4)
    this.#pos += 8
  }

  double(value: number): void {
    this.#room(8)
    this.#pos = this.#buffer.writeDoubleLE(value, this.#pos)
  }

  /** A length-delimited UTF-8 string (a lone surrogate becomes U+FFFD, as every UTF-8 encoder makes it). */
  string(text: string): void {
    this.#room(text.length * 3 + 5) // a UTF-16 code unit is at most 3 bytes of UTF-8, and the length 5 at most
    const start = this.#pos + 1
    this.#pos = start + this.#buffer.write(text, start, 'utf8')
    this.#endDelimited(start)
  }

  /** Hex text (a trace or span ID) as length-delimited bytes; the length is what was written, so bad hex cannot break the framing. */
  hexBytes(hex: string): void {
    this.#room((hex.length >>> 1) + 5)
    const start = this.#pos + 1
    this.#pos = start + this.#buffer.write(hex, start, 'hex')
    this.#endDelimited(start)
  }

  /** Bytes already in wire format (whole fields), copied as they are. */
  raw(bytes: Uint8Array): void {
    this.#room(bytes.length)
    this.#buffer.set(bytes, this.#pos)
    this.#pos += bytes.length
  }

  /** Starts a length-delimited message; pass what it returns to `end` once the message is written. */
  begin(): number {
    this.#room(1)
    return ++this.#pos // one byte kept for the length, enough for most of ours (under 128 bytes)
  }

  /** Ends the message `begin` started, writing its length in front of it. */
  end(start: number): void {
    this.#endDelimited(start)
  }

  /** What was written (a view, not a copy). */
  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#pos)
  }

  /** A copy of what was written, the size of its content. */
  copy(): Buffer {
    return Buffer.from(this.bytes())
  }

  // The content from `start` to here was written after one byte kept for its length: a length of 128
  // or more needs more bytes, so the content moves along to make room for them.
  #endDelimited(start: number): void {
    const length = this.#pos - start
    if (length < 0x80) {
      this.#buffer[start - 1] = length
      return
    }
    const extra = varintSize(length) - 1
    this.#room(extra)
    this.#buffer.copyWithin(start + extra, start, this.#pos)
    this.#pos = start - 1
    this.varint(length)
    this.#pos += length
  }

  #room(bytes: number): void {
    if (this.#pos + bytes <= this.#buffer.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#pos + bytes))
    this.#buffer.copy(grown, 0, 0, this.#pos)
    this.#buffer = grown
  }
}

/** True for a number OTLP writes as an int_value: an integer within int64 (the SDK's rule). */
export function isInt64(value: number): boolean {
  return Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64_EXCLUSIVE
}

function varintSize(value: number): number {
  let size = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    size++
  }
  return size
}
