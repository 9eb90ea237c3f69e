/**
 * Set relations between compiled rules, for the checks that reason about rules rather than
 * destinations: requirement clamping ("this allow is overridden by that block") and lint
 * ("shadowed", "unreachable"). They agree with `decide`'s matching, which the tests pin.
 */
import { inNetwork, toIpBytes } from './ip-bits.js'
import type { Cidr, HostPattern, Rule } from './types.js'

type Interval = readonly [from: number, to: number]

const ALL_PORTS: readonly Interval[] = [[1, 65535]]
const WEB_PORTS: readonly Interval[] = [[80, 80], [443, 443]]

/** Whether every host `narrow` matches is also matched by `broad`. */
export function hostCovers(broad: HostPattern, narrow: HostPattern): boolean {
  if (broad.kind === 'exact') return narrow.kind === 'exact' && narrow.host === broad.host
  if (broad.kind === 'wildcard') {
    if (narrow.kind === 'exact') return narrow.host.endsWith(`.${broad.suffix}`)
    return narrow.kind === 'wildcard' && (narrow.suffix === broad.suffix || narrow.suffix.endsWith(`.${broad.suffix}`))
  }
  return narrow.kind === 'cidr' && cidrCovers(broad, narrow)
}

/** Whether some host matches both patterns. */
export function hostOverlaps(a: HostPattern, b: HostPattern): boolean {
  return hostCovers(a, b) || hostCovers(b, a)
}

/** Whether network `broad` contains network `narrow` (same family only). */
export function cidrCovers(broad: Pick<Cidr, 'family' | 'address' | 'prefix'>, narrow: Pick<Cidr, 'family' | 'address' | 'prefix'>): boolean {
  if (broad.family !== narrow.family || broad.prefix > narrow.prefix) return false
  const b = toIpBytes(broad.address)?.bytes
  const n = toIpBytes(narrow.address)?.bytes
  return b !== undefined && n !== undefined && inNetwork(n, b, broad.prefix)
}

/** The ports a rule covers, as closed intervals (a portless allow is 80 and 443; a portless block, all). */
export function portIntervals(rule: Pick<Rule, 'action' | 'ports'>): readonly Interval[] {
  const ports = rule.ports
  if (ports.kind === 'any') return ALL_PORTS
  if (ports.kind === 'range') return [[ports.from, ports.to]]
  return rule.action === 'block' ? ALL_PORTS : WEB_PORTS
}

/** Whether `broad` covers every port `narrow` covers. */
export function portsCover(broad: Pick<Rule, 'action' | 'ports'>, narrow: Pick<Rule, 'action' | 'ports'>): boolean {
  const outer = portIntervals(broad)
  return portIntervals(narrow).every(([from, to]) => outer.some(([f, t]) => f <= from && to <= t))
}

/** Whether some port is covered by both rules. */
export function portsOverlap(a: Pick<Rule, 'action' | 'ports'>, b: Pick<Rule, 'action' | 'ports'>): boolean {
  const bs = portIntervals(b)
  return portIntervals(a).some(([from, to]) => bs.some(([f, t]) => f <= to && from <= t))
}

/** Whether every destination `narrow` matches is matched by `broad`. */
export function ruleCovers(broad: Rule, narrow: Rule): boolean {
  return hostCovers(broad.host, narrow.host) && portsCover(broad, narrow)
}

/** Whether some destination is matched by both rules. */
export function rulesOverlap(a: Rule, b: Rule): boolean {
  return hostOverlaps(a.host, b.host) && portsOverlap(a, b)
}

/** `file:line:col`, the way every message names a place. */
export function at(ref: { readonly file: string; readonly line: number; readonly col: number }): string {
  return `${ref.file}:${ref.line}:${ref.col}`
}
