/**
 * Turns one `allow`/`block` entry (`github.com`, `*.example.com:8000-8100`, `[2001:db8::1]:443`,
 * `10.0.0.0/8`) into a normalised host pattern and port spec, or says what is wrong and how to fix it.
 */
import { parse as parseDomain } from 'tldts'
import { normalizeHost } from './normalize-host.js'
import { parseCidr, parseIpLiteral, problem, type Parsed } from './parse-cidr.js'
import type { HostPattern, PortSpec } from './types.js'

/** The two halves of a rule as written, compiled. */
export interface ParsedPattern {
  readonly host: HostPattern
  readonly ports: PortSpec
}

/** Plain decimal 1-65535: no sign, no leading zero (`08` reads as octal to some tools), no spaces. */
const PORT = /^[1-9]\d{0,4}$/
const PORT_FIX = 'write a port as a plain decimal number from 1 to 65535, a range like 8000-8100, or * for any port'

/** Parses a rule such as `registry.npmjs.org:443` into a host pattern and port spec. */
export function parsePattern(text: string): Parsed<ParsedPattern> {
  const split = splitHostPort(text)
  if (!split.ok) return split
  const ports = parsePorts(split.value.port)
  if (!ports.ok) return ports
  const host = parseHost(split.value.host)
  if (!host.ok) return host
  return { ok: true, value: { host: host.value, ports: ports.value } }
}

function splitHostPort(text: string): Parsed<{ host: string; port?: string }> {
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    const rest = text.slice(close + 1)
    const inner = text.slice(1, close)
    if (close < 0 || (rest !== '' && !rest.startsWith(':')) || !inner.includes(':')) return problem(`'${text}' misuses [brackets]`, 'brackets hold only an IPv6 address, as in [2001:db8::1]:443')
    return { ok: true, value: rest === '' ? { host: inner } : { host: inner, port: rest.slice(1) } }
  }
  const colons = text.split(':').length - 1
  if (colons !== 1) return { ok: true, value: { host: text } } // none, or a bare IPv6 literal
  const [host = '', port = ''] = text.split(':')
  return { ok: true, value: { host, port } }
}

/** Parses the part after the colon; no colon means the rule's default ports. */
export function parsePorts(text: string | undefined): Parsed<PortSpec> {
  if (text === undefined) return { ok: true, value: { kind: 'default' } }
  if (text === '*') return { ok: true, value: { kind: 'any' } }
  const [fromText = '', toText = fromText, ...extra] = text.split('-')
  const from = parsePort(fromText)
  const to = parsePort(toText)
  if (extra.length > 0 || from === undefined || to === undefined) return problem(`'${text}' is not a valid port`, PORT_FIX)
  if (from > to) return problem(`port range '${text}' is inverted`, `write the lower port first: ${to}-${from}`)
  return { ok: true, value: { kind: 'range', from, to } }
}

function parsePort(text: string): number | undefined {
  const port = PORT.test(text) ? Number(text) : NaN
  return port <= 65535 ? port : undefined
}

function parseHost(host: string): Parsed<HostPattern> {
  if (host === '') return problem('the rule has no host', 'write a host name, *.domain, IP address or CIDR before the port')
  if (host.includes('*')) return parseWildcard(host)
  if (host.includes('/')) return asCidr(parseCidr(host))
  if (looksLikeIp(host)) return asCidr(parseIpLiteral(host))
  const name = normalizeHost(host)
  if (!name.ok) return problem(`host '${host}' ${name.problem}`, 'write a host name such as api.example.com')
  return { ok: true, value: { kind: 'exact', host: name.host } }
}

/**
 * A colon, or a numeric last label (the WHATWG URL "ends in a number" test, so `0x7f.1` but not
 * `0x0.st`), means an IP literal, which is then parsed strictly.
 */
function looksLikeIp(host: string): boolean {
  return host.includes(':') || /(?:^|\.)(?:\d+|0x[0-9a-f]*)\.?$/i.test(host)
}

function asCidr(parsed: Parsed<{ family: 4 | 6; address: string; prefix: number }>): Parsed<HostPattern> {
  if (!parsed.ok) return parsed
  const { family, address, prefix } = parsed.value
  return { ok: true, value: { kind: 'cidr', family, address, prefix } }
}

function parseWildcard(host: string): Parsed<HostPattern> {
  if (host === '*' || host === '*.') return problem("a bare '*' would match every host", 'list the hosts you need, or use *.example.com for every subdomain of one domain')
  const rest = host.startsWith('*.') ? host.slice(2) : host
  if (/[:/]/.test(rest) || rest.split('.').every((label) => label === '*' || /^\d+$/.test(label))) return problem(`'${host}': IP rules take no wildcards`, 'use a CIDR instead, e.g. 10.0.0.0/8')
  if (!host.startsWith('*.') || rest.includes('*')) return problem(`'${host}': '*' may only be a single leading '*.' label`, wildcardFix(host))
  const suffix = normalizeHost(rest)
  if (!suffix.ok) return problem(`'${host}': domain '${rest}' ${suffix.problem}`, 'write *. followed by a domain, e.g. *.example.com')
  if (isPublicSuffix(suffix.host)) return problem(`'${host}' covers the public suffix '${suffix.host}', so every site under it`, `name the domain you mean, e.g. *.example.${suffix.host}`)
  return { ok: true, value: { kind: 'wildcard', suffix: suffix.host } }
}

function wildcardFix(host: string): string {
  if (host.endsWith('.*')) return `name the top-level domain: a trailing '*' would match ${host.slice(0, -2)} under every TLD`
  if (/^\*\.(\*\.)+/.test(host)) return `write ${host.replace(/^(\*\.)+/, '*.')}: one leading '*.' already matches every depth`
  return 'write *.example.com for every subdomain of example.com, or list the hosts exactly'
}

/**
 * ICANN suffixes only: `*.co.uk` is refused, but `*.github.io` (a private-section suffix, one
 * owner's users) is a reasonable thing to allow. Names under an unknown TLD (`*.corp`) are allowed.
 */
function isPublicSuffix(domain: string): boolean {
  const parsed = parseDomain(domain, { allowPrivateDomains: false })
  return parsed.isIcann === true && parsed.publicSuffix === domain
}
