/**
 * The second gate: an allowed *name* must still resolve to a public address, or a policy that allows
 * `*.example.com` lets anyone who controls example.com's DNS point it at 169.254.169.254 (DNS
 * rebinding; Capital One 2019). Ranges are from the IANA special-purpose registries (RFC 6890).
 */
import { normalizeHost } from './normalize-host.js'
import { remember } from './remember.js'
import { inNetwork, toIpBytes } from './ip-bits.js'
import type { Cidr, Policy } from './types.js'

/** What `checkAddress` returns; `range` names the special range that was hit, for the refusal body. */
export type AddressCheck = { readonly ok: true } | { readonly ok: false; readonly reason: 'private-address'; readonly range: string }

interface SpecialRange {
  readonly bytes: readonly number[]
  readonly prefix: number
  readonly range: string
}

function row(cidr: string, range: string): SpecialRange {
  const [address = '', prefix = ''] = cidr.split('/')
  return { bytes: toIpBytes(address)?.bytes ?? [], prefix: Number(prefix), range }
}

/** Builds a table; first match wins, so single addresses come before the ranges that hold them. */
function table(rows: readonly (readonly [string, string])[]): readonly SpecialRange[] {
  return rows.map(([cidr, range]) => row(cidr, range))
}

const V4 = table([
  ['0.0.0.0/32', 'unspecified'],
  ['0.0.0.0/8', 'this network (0.0.0.0/8)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.169.254/32', 'link-local (cloud metadata)'],
  ['169.254.0.0/16', 'link-local'],
  ['168.63.129.16/32', 'cloud metadata (Azure)'],
  ['100.100.100.200/32', 'cloud metadata (Alibaba)'],
  ['100.64.0.0/10', 'carrier-grade NAT'],
  ['10.0.0.0/8', 'private (RFC 1918)'],
  ['172.16.0.0/12', 'private (RFC 1918)'],
  ['192.168.0.0/16', 'private (RFC 1918)'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['198.18.0.0/15', 'benchmarking'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved (240.0.0.0/4)'],
])

/** Single IPv6 addresses, checked before the embeddings because `::` and `::1` sit inside `::/96`. */
const V6_EXACT = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fd00:ec2::254/128', 'cloud metadata (AWS)'],
])

const V6_RANGES = table([
  // RFC 8215: the translator is on the local network and the operator picks the embedding layout,
  // so the IPv4 address inside cannot be recovered reliably. Refused whole.
  ['64:ff9b:1::/48', 'NAT64 local-use'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated)'],
  ['fc00::/7', 'unique-local'],
  ['ff00::/8', 'multicast'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:10::/28', 'ORCHID'],
  ['2001:20::/28', 'ORCHID'],
])

/** Only 2000::/3 is global unicast; everything outside it that no row above names is reserved. */
const GLOBAL_UNICAST = row('2000::/3', 'global unicast')

/** IPv6 forms that carry an IPv4 address, and where it sits. */
const EMBEDDINGS: readonly Embedding[] = [
  [row('::ffff:0:0/96', 'IPv4-mapped'), (b) => b.slice(12, 16)],
  [row('::/96', 'IPv4-compatible'), (b) => b.slice(12, 16)],
  [row('64:ff9b::/96', 'NAT64'), (b) => b.slice(12, 16)],
  [row('2002::/16', '6to4'), (b) => b.slice(2, 6)],
  // RFC 4380 §4: the Teredo client's address is the last 32 bits, inverted.
  [row('2001::/32', 'Teredo'), (b) => b.slice(12, 16).map((x) => x ^ 0xff)],
]

type Embedding = readonly [SpecialRange, (bytes: readonly number[]) => number[]]

interface Hit {
  readonly range: string
  readonly embedded?: readonly number[]
}

/** Answers per policy, so a reload starts afresh; bounded, because addresses come from DNS answers. */
const answered = new WeakMap<Policy, (address: string) => AddressCheck>()

/** Refuses a non-public address unless an `allow_private` CIDR covers it (or the IPv4 address it embeds). */
export function checkAddress(policy: Policy, address: string): AddressCheck {
  let check = answered.get(policy)
  if (check === undefined) answered.set(policy, (check = remember(4096, (a) => classifyAddress(policy, a))))
  return check(address)
}

function classifyAddress(policy: Policy, address: string): AddressCheck {
  const normal = normalizeHost(address)
  const ip = normal.ok && normal.kind !== 'name' ? toIpBytes(normal.host) : undefined
  if (ip === undefined) return { ok: false, reason: 'private-address', range: 'not an IP address' }
  const hit = ip.family === 4 ? firstHit(V4, ip.bytes) : classifyV6(ip.bytes)
  if (hit === undefined) return { ok: true }
  if (covered(policy.allowPrivate, ip.bytes) || (hit.embedded && covered(policy.allowPrivate, hit.embedded))) return { ok: true }
  return { ok: false, reason: 'private-address', range: hit.range }
}

function firstHit(rows: readonly SpecialRange[], bytes: readonly number[]): Hit | undefined {
  return rows.find((row) => inNetwork(bytes, row.bytes, row.prefix))
}

function classifyV6(bytes: readonly number[]): Hit | undefined {
  const exact = firstHit(V6_EXACT, bytes)
  if (exact) return exact
  const embedding = EMBEDDINGS.find(([form]) => inNetwork(bytes, form.bytes, form.prefix))
  if (embedding) return embeddedHit(embedding, bytes)
  return firstHit(V6_RANGES, bytes) ?? notGlobal(bytes)
}

/** An embedding is refused when its IPv4 address is; a public one inside it is fine. */
function embeddedHit([form, extract]: Embedding, bytes: readonly number[]): Hit | undefined {
  const v4 = extract(bytes)
  const inner = firstHit(V4, v4)
  return inner && { range: `${inner.range} via ${form.range} ${v4.join('.')}`, embedded: v4 }
}

function notGlobal(bytes: readonly number[]): Hit | undefined {
  return inNetwork(bytes, GLOBAL_UNICAST.bytes, GLOBAL_UNICAST.prefix) ? undefined : { range: 'reserved (outside 2000::/3)' }
}

function covered(cidrs: readonly Cidr[], bytes: readonly number[]): boolean {
  return cidrs.some((cidr) => {
    const network = toIpBytes(cidr.address)
    return network !== undefined && inNetwork(bytes, network.bytes, cidr.prefix)
  })
}
