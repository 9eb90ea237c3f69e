/**
 * The compiled matching index. A lookup costs O(labels + distinct prefix lengths), whatever the rule
 * count: exact hosts and wildcard suffixes are Map keys, and CIDRs sit in one Map per prefix length,
 * keyed by the masked network, so a lookup masks the destination once per length present.
 */
import { networkKey, prefixKey, toHex, toIpBytes } from './ip-bits.js'
import type { Destination, Policy, Rule } from './types.js'

/** A rule with what the tie-breaks need, computed once. */
export interface IndexEntry {
  readonly rule: Rule
  /** Source order across all files: the first written wins a tie. */
  readonly order: number
  /** Exact host 1000; wildcard: labels in its suffix; CIDR: prefix length in IPv6 terms (IPv4 + 96). */
  readonly specificity: number
}

interface PrefixTable {
  readonly prefix: number
  readonly networks: Map<string, IndexEntry[]>
}

/** The opaque compiled form of a policy's rules. */
export interface PolicyIndex {
  readonly exact: Map<string, IndexEntry[]>
  readonly wildcard: Map<string, IndexEntry[]>
  readonly cidr4: PrefixTable[]
  readonly cidr6: PrefixTable[]
}

const EXACT_SPECIFICITY = 1000
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]

/**
 * Compiled indexes, one per policy object. Kept beside the policy rather than in it so `Policy` stays
 * plain frozen data (loggable, comparable with `t.same`) and the Maps cannot be mutated by callers.
 */
const compiled = new WeakMap<Policy, PolicyIndex>()

/** The index for `policy`, compiled on first use (normally by `loadPolicy`) and cached. */
export function indexOf(policy: Policy): PolicyIndex {
  let index = compiled.get(policy)
  if (index === undefined) compiled.set(policy, (index = buildIndex(policy.rules)))
  return index
}

function buildIndex(rules: readonly Rule[]): PolicyIndex {
  const index: PolicyIndex = { exact: new Map(), wildcard: new Map(), cidr4: [], cidr6: [] }
  rules.forEach((rule, order) => addRule(index, rule, order))
  return index
}

function addRule(index: PolicyIndex, rule: Rule, order: number): void {
  const host = rule.host
  if (host.kind === 'exact') push(index.exact, host.host, { rule, order, specificity: EXACT_SPECIFICITY })
  else if (host.kind === 'wildcard') push(index.wildcard, host.suffix, { rule, order, specificity: host.suffix.split('.').length })
  else addCidr(host.family === 4 ? index.cidr4 : index.cidr6, rule, order, host)
}

function addCidr(tables: PrefixTable[], rule: Rule, order: number, host: { family: 4 | 6; address: string; prefix: number }): void {
  const bytes = toIpBytes(host.address)?.bytes ?? []
  let table = tables.find((t) => t.prefix === host.prefix)
  if (table === undefined) tables.push((table = { prefix: host.prefix, networks: new Map() }))
  const specificity = host.prefix + (host.family === 4 ? 96 : 0)
  push(table.networks, networkKey(bytes, host.prefix), { rule, order, specificity })
}

function push<K>(map: Map<K, IndexEntry[]>, key: K, entry: IndexEntry): void {
  const bucket = map.get(key)
  if (bucket === undefined) map.set(key, [entry])
  else bucket.push(entry)
}

/**
 * Every bucket of rules whose host part matches `dest`. Name rules never match IP literals and CIDR
 * rules only match IP literals. An IPv4 address and its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) are
 * one destination, so each is looked up in both families' CIDRs: a block on 10.0.0.0/8 also stops
 * `[::ffff:10.0.0.1]`.
 */
export function lookup(index: PolicyIndex, dest: Destination): IndexEntry[][] {
  return dest.kind === 'name' ? lookupName(index, dest.host) : lookupAddress(index, dest.host)
}

/** The exact host, then each proper suffix (`a.b.c` → `b.c`, `c`) as a wildcard: never the apex itself. */
function lookupName(index: PolicyIndex, host: string): IndexEntry[][] {
  const found: IndexEntry[][] = []
  collect(found, index.exact.get(host))
  for (let dot = host.indexOf('.'); dot >= 0; dot = host.indexOf('.', dot + 1)) collect(found, index.wildcard.get(host.slice(dot + 1)))
  return found
}

function lookupAddress(index: PolicyIndex, address: string): IndexEntry[][] {
  const ip = toIpBytes(address)
  if (ip === undefined) return []
  const found: IndexEntry[][] = []
  const v4 = ip.family === 4 ? ip.bytes : isMapped(ip.bytes) ? ip.bytes.slice(12) : undefined
  if (v4) {
    const hex = toHex(v4)
    for (const t of index.cidr4) collect(found, t.networks.get(prefixKey(hex, t.prefix)))
  }
  const v6 = toHex(ip.family === 6 ? ip.bytes : [...MAPPED_PREFIX, ...ip.bytes])
  for (const t of index.cidr6) collect(found, t.networks.get(prefixKey(v6, t.prefix)))
  return found
}

function isMapped(bytes: readonly number[]): boolean {
  return MAPPED_PREFIX.every((b, i) => bytes[i] === b)
}

function collect(found: IndexEntry[][], bucket: IndexEntry[] | undefined): void {
  if (bucket !== undefined) found.push(bucket)
}
