/**
 * The one host normaliser. Its output is what we match, what we log and what we connect to, so a
 * host that two parsers could read two ways (CVE-2021-22931, the `0x7f.1` and `evil.com%00.good.com`
 * families) is either canonicalised to the single address it means or refused here.
 */
import { remember } from './remember.js'

/** What `normalizeHost` returns: a canonical host and its kind, or why the input was refused. */
export type NormalizedHost =
  | { readonly ok: true; readonly host: string; readonly kind: 'name' | 4 | 6 }
  | { readonly ok: false; readonly problem: string }

const MAX_NAME = 253 // RFC 1035 §2.3.4, without the trailing dot
const MAX_LABEL = 63
/** After UTS #46 processing a name may only hold LDH characters and `_` (SRV/DMARC-style labels). */
const NAME_CHARS = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/
const DOTTED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/** Characters refused anywhere, each with the reason we give; checked before any parser sees them. */
const REFUSED: readonly (readonly [RegExp, string])[] = [
  [/[\u0000-\u001f\u007f-\u009f]/, 'contains a control character'],
  [/\s/u, 'contains whitespace'],
  [/%/, "contains '%' (percent-encoding and IPv6 zone ids are refused)"],
  [/\\/, "contains '\\'"],
  [/@/, "contains '@' (userinfo is not part of a host)"],
  [/[/?#]/, "contains '/', '?' or '#'"],
]

/** Lower-cases, Punycodes and canonicalises a host (name, IPv4 in any notation, or IPv6); refuses ambiguous ones. */
export const normalizeHost: (raw: string) => NormalizedHost = remember(4096, normalize)

function normalize(raw: string): NormalizedHost {
  for (const [pattern, problem] of REFUSED) if (pattern.test(raw)) return refuse(problem)
  if (raw.startsWith('[') && raw.endsWith(']')) return normalizeIPv6(raw.slice(1, -1))
  if (/[[\]]/.test(raw)) return refuse('contains a bracket outside an [IPv6] literal')
  if (raw.includes(':')) return normalizeIPv6(raw)
  return normalizeNameOrIPv4(raw.endsWith('.') ? raw.slice(0, -1) : raw)
}

function refuse(problem: string): NormalizedHost {
  return { ok: false, problem }
}

/** WHATWG host parsing does UTS #46 (IDNA) mapping and every IPv4 number form, exactly as browsers do. */
function whatwgHost(host: string): string | undefined {
  try {
    return new URL(`http://${host}/`).hostname
  } catch {
    return undefined
  }
}

function normalizeNameOrIPv4(name: string): NormalizedHost {
  if (name === '') return refuse('is empty')
  if (name.split('.').includes('')) return refuse('has an empty label')
  const host = whatwgHost(name)
  if (host === undefined) return refuse('is not a valid host name or IPv4 address')
  if (DOTTED_QUAD.test(host)) return { ok: true, host, kind: 4 }
  return checkName(host)
}

function checkName(host: string): NormalizedHost {
  if (!NAME_CHARS.test(host)) return refuse('contains a character not allowed in a host name')
  if (host.length > MAX_NAME) return refuse(`is longer than ${MAX_NAME} characters`)
  if (host.split('.').some((label) => label.length > MAX_LABEL)) return refuse(`has a label longer than ${MAX_LABEL} characters`)
  return { ok: true, host, kind: 'name' }
}

function normalizeIPv6(inner: string): NormalizedHost {
  if (/[[\]]/.test(inner)) return refuse('contains a bracket outside an [IPv6] literal')
  // The WHATWG IPv6 parser is strict (no zone ids, decimal-only embedded IPv4) and serialises
  // RFC 5952-style. Not ipaddr.js: it reads the IPv4-compatible `::127.0.0.1` as `::ffff:127.0.0.1`.
  const host = whatwgHost(`[${inner}]`)
  if (host === undefined) return refuse('is not a valid IPv6 address')
  return { ok: true, host: dottedMapped(host.slice(1, -1)), kind: 6 }
}

/**
 * An IPv4-mapped address keeps its dotted quad (RFC 5952 §5), so an event shows `::ffff:127.0.0.1`
 * rather than hiding the loopback target behind `::ffff:7f00:1`.
 */
function dottedMapped(host: string): string {
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host)
  if (mapped === null) return host
  const [high, low] = [parseInt(mapped[1] ?? '', 16), parseInt(mapped[2] ?? '', 16)]
  return `::ffff:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
}
