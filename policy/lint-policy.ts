/**
 * Warnings about a policy that loads but may not say what its author meant: duplicate and shadowed
 * rules, allows a block makes unreachable, patterns broader than they look, and every clamp.
 * Candidates are found through host maps rather than by comparing every pair, so a 100,000-rule
 * file lints in about the time it takes to load.
 */
import { parse as parseDomain } from 'tldts'
import { at, hostCovers, ruleCovers } from './rule-relations.js'
import type { Policy, Rule, SourceRef } from './types.js'

/** One warning, placed at the rule (or setting) it is about. */
export interface LintWarning {
  readonly at: SourceRef
  readonly message: string
}

/**
 * Suffixes whose subdomains belong to many unrelated customers, beyond what the Public Suffix List's
 * private section (checked through tldts) already names.
 */
const SHARED_SUFFIXES = new Set(['amazonaws.com', 'googleapis.com', 'cloudfront.net', 'googleusercontent.com', 'windows.net', 'azureedge.net', 'cloudflare.com', 'fastly.net', 'akamaihd.net'])

/** Every warning for `policy`, in source order. */
export function lintPolicy(policy: Policy): LintWarning[] {
  const warnings: LintWarning[] = []
  const index = hostIndex(policy.rules)
  const orders = new Map(policy.rules.map((rule, order) => [rule, order]))
  policy.rules.forEach((rule, order) => {
    const broader = candidates(index, rule).filter((other) => other !== rule)
    const note = relation(rule, order, broader, orders)
    if (note) warnings.push({ at: rule.source, message: note })
    const wide = broaderThanItLooks(rule)
    if (wide) warnings.push({ at: rule.source, message: wide })
  })
  for (const clamp of policy.clamps ?? []) warnings.push({ at: clamp.subject, message: `${clamp.message}${clamp.bound ? ` [${clamp.requirement}, ${at(clamp.bound)}]` : ''}` })
  return warnings.sort((a, b) => a.at.file.localeCompare(b.at.file) || a.at.line - b.at.line || a.at.col - b.at.col)
}

/** The first thing worth saying about `rule` against the rules that match a superset of its hosts. */
function relation(rule: Rule, order: number, others: readonly Rule[], orders: ReadonlyMap<Rule, number>): string | undefined {
  const position = (r: Rule): number => orders.get(r) ?? -1
  if (rule.action === 'allow') {
    const block = others.find((o) => o.action === 'block' && ruleCovers(o, rule))
    if (block) return `allow '${rule.pattern}' is unreachable: block '${block.pattern}' (${at(block.source)}) matches everything it does, and a block always wins`
  }
  const same = others.filter((o) => o.action === rule.action && ruleCovers(o, rule))
  const duplicate = same.find((o) => ruleCovers(rule, o) && position(o) < order)
  if (duplicate) return `${rule.action} '${rule.pattern}' duplicates '${duplicate.pattern}' (${at(duplicate.source)})`
  const shadow = same.find((o) => !ruleCovers(rule, o))
  if (shadow) return `${rule.action} '${rule.pattern}' is shadowed: '${shadow.pattern}' (${at(shadow.source)}) already covers it`
  return undefined
}

function broaderThanItLooks(rule: Rule): string | undefined {
  const host = rule.host
  if (rule.action !== 'allow') return undefined
  if (host.kind === 'wildcard' && isShared(host.suffix)) return `allow '${rule.pattern}' matches every customer's site under ${host.suffix}, not one organisation's: name the hosts you mean`
  if (rule.ports.kind === 'any') return `allow '${rule.pattern}' opens every port, including SSH (22) and databases: name the ports you need`
  if (rule.ports.kind === 'range' && rule.ports.to - rule.ports.from >= 1000) return `allow '${rule.pattern}' opens ${rule.ports.to - rule.ports.from + 1} ports: is the range meant to be that wide?`
  if (host.kind === 'cidr' && host.prefix < (host.family === 4 ? 24 : 48)) return `allow '${rule.pattern}' covers ${host.family === 4 ? 2 ** (32 - host.prefix) : `2^${128 - host.prefix}`} addresses: is the network meant to be that wide?`
  return undefined
}

/** A private public suffix (github.io, herokuapp.com…) or a cloud's shared domain. */
function isShared(suffix: string): boolean {
  if ([...SHARED_SUFFIXES].some((s) => suffix === s || suffix.endsWith(`.${s}`))) return true
  const parsed = parseDomain(`example.${suffix}`, { allowPrivateDomains: true })
  return parsed.isPrivate === true && parsed.publicSuffix === suffix
}

interface HostIndex {
  readonly exact: Map<string, Rule[]>
  readonly wildcard: Map<string, Rule[]>
  readonly cidr: Rule[]
}

function hostIndex(rules: readonly Rule[]): HostIndex {
  const index: HostIndex = { exact: new Map(), wildcard: new Map(), cidr: [] }
  const push = (map: Map<string, Rule[]>, key: string, rule: Rule): void => {
    const bucket = map.get(key)
    if (bucket) bucket.push(rule)
    else map.set(key, [rule])
  }
  for (const rule of rules) {
    if (rule.host.kind === 'exact') push(index.exact, rule.host.host, rule)
    else if (rule.host.kind === 'wildcard') push(index.wildcard, rule.host.suffix, rule)
    else index.cidr.push(rule)
  }
  return index
}

/** Rules whose host pattern could cover `rule`'s: the same exact host, or a wildcard over one of its suffixes. */
function candidates(index: HostIndex, rule: Rule): Rule[] {
  const host = rule.host
  if (host.kind === 'cidr') return index.cidr.filter((o) => hostCovers(o.host, host))
  const name = host.kind === 'exact' ? host.host : host.suffix
  const found = host.kind === 'exact' ? [...(index.exact.get(name) ?? [])] : [...(index.wildcard.get(name) ?? [])]
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) found.push(...(index.wildcard.get(name.slice(dot + 1)) ?? []))
  return found
}
