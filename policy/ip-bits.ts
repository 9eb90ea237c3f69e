/** Byte-level helpers shared by the CIDR index and the address checker: one way to mask, one way to key. */
import ipaddr from 'ipaddr.js'

/** An IP address as its family and network-order bytes (4 or 16 of them). */
export interface IpBytes {
  readonly family: 4 | 6
  readonly bytes: readonly number[]
}

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const HEX_GROUP = /^[0-9a-f]{1,4}$/i

/**
 * Parses an IP string in the forms `normalizeHost` produces (dotted quad; RFC 5952 IPv6, possibly
 * with a dotted tail) into bytes; undefined otherwise. Hand-written because ipaddr.js reads the
 * IPv4-compatible `::127.0.0.1` as the IPv4-mapped `::ffff:127.0.0.1`.
 */
export function toIpBytes(address: string): IpBytes | undefined {
  if (!address.includes(':')) {
    const bytes = dottedBytes(address)
    return bytes && { family: 4, bytes }
  }
  const bytes = ipv6Bytes(address)
  return bytes && { family: 6, bytes }
}

function dottedBytes(text: string): number[] | undefined {
  const octets = DOTTED.exec(text)?.slice(1).map(Number)
  return octets?.every((o) => o <= 255) ? octets : undefined
}

function ipv6Bytes(text: string): number[] | undefined {
  const tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  const v4 = tail ? dottedBytes(tail[2] ?? '') : undefined
  if (tail && !v4) return undefined
  const hex = tail && v4 ? `${tail[1]}${(((v4[0] ?? 0) << 8) | (v4[1] ?? 0)).toString(16)}:${(((v4[2] ?? 0) << 8) | (v4[3] ?? 0)).toString(16)}` : text
  const groups = expandGroups(hex)
  if (groups === undefined || !groups.every((g) => HEX_GROUP.test(g))) return undefined
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff])
}

/** Eight groups, with `::` expanded to the zero groups it stands for. */
function expandGroups(text: string): string[] | undefined {
  const halves = text.split('::')
  const split = (half: string) => (half === '' ? [] : half.split(':'))
  const head = split(halves[0] ?? '')
  const rest = split(halves[1] ?? '')
  const missing = 8 - head.length - rest.length
  if (halves.length > 2 || (halves.length === 1 ? missing !== 0 : missing < 1)) return undefined
  return [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest]
}

/** The bytes with every bit past `prefix` cleared. */
export function maskBytes(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((byte, i) => {
    const keep = Math.max(0, Math.min(8, prefix - i * 8))
    return byte & ((0xff << (8 - keep)) & 0xff)
  })
}

/** The bytes as lower-case hex, two digits each: the form `prefixKey` slices. */
export function toHex(bytes: readonly number[]): string {
  let hex = ''
  for (const b of bytes) hex += (b < 16 ? '0' : '') + b.toString(16)
  return hex
}

/**
 * A Map key for the network of `hex` at `prefix` bits: the whole hex digits the prefix covers, then
 * the partial digit masked. Slicing a string is far cheaper per lookup than masking 16 bytes.
 */
export function prefixKey(hex: string, prefix: number): string {
  const whole = prefix >> 2
  const rest = prefix & 3
  if (rest === 0) return hex.slice(0, whole)
  return hex.slice(0, whole) + (parseInt(hex.charAt(whole), 16) & (0xf0 >> rest) & 0xf).toString(16)
}

/** A Map key for the network `bytes/prefix`. */
export function networkKey(bytes: readonly number[], prefix: number): string {
  return prefixKey(toHex(bytes), prefix)
}

/** Whether `bytes` lies inside the network `network/prefix` of the same length. */
export function inNetwork(bytes: readonly number[], network: readonly number[], prefix: number): boolean {
  return bytes.length === network.length && networkKey(bytes, prefix) === networkKey(network, prefix)
}

/** Formats 4 or 16 bytes as canonical text. */
export function bytesToText(bytes: readonly number[]): string {
  return ipaddr.fromByteArray([...bytes]).toString()
}
