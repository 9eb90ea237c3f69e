/** Strict CIDR parsing for rules and `allow_private`: one spelling per network, nothing a reader could misread. */
import { normalizeHost } from './normalize-host.js'
import { bytesToText, maskBytes, toIpBytes } from './ip-bits.js'
import type { Cidr } from './types.js'

/** A parse result: the value, or what is wrong and how to fix it. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string; readonly fix: string }

/** Four plain decimal octets: `010.0.0.1` is octal to inet_aton and decimal to a reader, so it is refused. */
const PLAIN_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/
const PLAIN_DECIMAL = /^(?:0|[1-9]\d{0,2})$/

/** Builds a failed `Parsed`. */
export function problem<T>(message: string, fix: string): Parsed<T> {
  return { ok: false, message, fix }
}

/** Parses an IP literal written in a policy: dotted-decimal IPv4 or any valid IPv6, to a /32 or /128. */
export function parseIpLiteral(text: string): Parsed<Cidr> {
  return parseCidr(`${text}/${text.includes(':') ? 128 : 32}`)
}

/** Parses `address/prefix`; refuses host bits and says which network was probably meant. */
export function parseCidr(text: string): Parsed<Cidr> {
  const [address = '', prefixText, ...extra] = text.split('/')
  if (prefixText === undefined || extra.length > 0) return problem(`'${text}' is not a CIDR`, 'write a network and a prefix length, e.g. 10.0.0.0/8 or fd00::/8')
  const ip = parseAddress(address)
  if (!ip.ok) return ip
  const max = ip.value.family === 4 ? 32 : 128
  const prefix = PLAIN_DECIMAL.test(prefixText) ? Number(prefixText) : NaN
  if (!(prefix <= max)) return problem(`'${text}' has prefix length '${prefixText}'`, `use a plain decimal prefix length from 0 to ${max}`)
  const network = bytesToText(maskBytes(ip.value.bytes, prefix))
  const canonical = normalizeHost(network.includes(':') ? `[${network}]` : network)
  const networkText = canonical.ok ? canonical.host : network
  if (network !== bytesToText(ip.value.bytes)) return problem(`'${text}' has host bits set`, `did you mean ${networkText}/${prefix}?`)
  return { ok: true, value: { family: ip.value.family, address: networkText, prefix, text: `${networkText}/${prefix}` } }
}

function parseAddress(address: string): Parsed<{ family: 4 | 6; bytes: readonly number[] }> {
  if (address.includes(':')) {
    const v6 = normalizeHost(`[${address}]`)
    const bytes = v6.ok ? toIpBytes(v6.host) : undefined
    if (bytes) return { ok: true, value: bytes }
    return problem(`'${address}' is not a valid IPv6 address`, 'write a valid IPv6 address, e.g. 2001:db8::1')
  }
  if (PLAIN_IPV4.test(address)) return { ok: true, value: toIpBytes(address) ?? { family: 4, bytes: [] } }
  return problem(`'${address}' is not a dotted-decimal IPv4 address`, 'write four decimal numbers without leading zeros, e.g. 10.0.0.1')
}
