/**
 * Request-level decisions for hosts whose rules carry `methods`, `paths`, `credentials` or `inspect`. A request
 * is allowed when any allow rule covering its host and port admits its method and canonical path (rules are a
 * union, like plain entries); the most specific admitting rule, then the first written, supplies credentials.
 */
import picomatch from 'picomatch'
import { coversPort, decide } from './decide.js'
import { indexOf, lookup, type IndexEntry } from './policy-index.js'
import type { Decision, Destination, Policy, Rule } from './types.js'

/** What a request inside an inspected tunnel (or a plain-HTTP request) is decided on. */
export interface RequestQuery {
  readonly method: string
  /** Canonical path (see canonical-path.ts), query removed. */
  readonly path: string
}

type Matcher = (path: string) => boolean

// Compiled once per rule object; kept outside the frozen policy so `Policy` stays plain data.
const matchers = new WeakMap<Rule, Matcher>()

/** Whether a rule restricts or augments requests, so its host's tunnels must be terminated. */
export function ruleNeedsInspection(rule: Rule): boolean {
  return rule.action === 'allow' && (rule.inspect === true || rule.methods !== undefined || rule.paths !== undefined || rule.credentials !== undefined)
}

/** Whether any allow rule covering `dest` (host and port) needs inspection. */
export function needsInspection(policy: Policy, dest: Destination): boolean {
  return allowRules(policy, dest).some(ruleNeedsInspection)
}

/** Whether any rule of the policy needs inspection, so the proxy must load its CA. */
export function policyNeedsInspection(policy: Policy): boolean {
  return policy.rules.some(ruleNeedsInspection)
}

/** The decision for one request: the host's own decision unless it allows, then the method and path rules. */
export function decideRequest(policy: Policy, dest: Destination, request: RequestQuery): Decision {
  const host = decide(policy, dest)
  if (host.action !== 'allow') return host
  const rules = allowRules(policy, dest)
  const admitting = rules.find((rule) => admitsMethod(rule, request.method) && admitsPath(rule, request.path))
  if (admitting) return Object.freeze({ classification: 'allowed', action: 'allow', reason: 'allowed', rule: admitting })
  const pathOnly = rules.find((rule) => admitsPath(rule, request.path))
  const reason = pathOnly ? 'method-not-allowed' : 'path-not-allowed'
  return Object.freeze({ classification: 'allowed', action: 'deny', reason, rule: pathOnly ?? rules[0] ?? host.rule })
}

/** Allow rules covering host and port, most specific first, then in the order written. */
function allowRules(policy: Policy, dest: Destination): Rule[] {
  const entries: IndexEntry[] = []
  for (const bucket of lookup(indexOf(policy), dest)) {
    for (const entry of bucket) if (entry.rule.action === 'allow' && coversPort(entry.rule, dest.port)) entries.push(entry)
  }
  return entries.sort((a, b) => b.specificity - a.specificity || a.order - b.order).map((e) => e.rule)
}

function admitsMethod(rule: Rule, method: string): boolean {
  return rule.methods === undefined || rule.methods.includes(method)
}

function admitsPath(rule: Rule, path: string): boolean {
  if (rule.paths === undefined) return true
  let matcher = matchers.get(rule)
  if (matcher === undefined) matchers.set(rule, (matcher = picomatch([...rule.paths], { dot: true })))
  return matcher(path)
}
