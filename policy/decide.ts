/**
 * `decide` classifies a destination against a policy. Precedence, so the same inputs always name the
 * same rule:
 *   1. a block rule matching host and port wins over any allow rule (`blocked`);
 *   2. else an allow rule matching host and port (`allowed`);
 *   3. else an allow rule matching the host only (`port-not-allowed`, acted on like an unknown host);
 *   4. else `unknown`, acted on per `default`.
 * Among several rules of the same kind: the most specific host (exact, then the wildcard with the
 * longest suffix, or the longest prefix), then the narrowest ports, then the first written.
 */
import { indexOf, lookup, type IndexEntry } from './policy-index.js'
import type { Decision, Destination, Policy, PortSpec, Rule } from './types.js'

/** Allow rules without a port cover plain HTTP and HTTPS; block rules without one cover every port. */
const ALLOW_DEFAULT_PORTS: ReadonlySet<number> = new Set([80, 443])
const UNKNOWN_ASK: Decision = Object.freeze({ classification: 'unknown', action: 'ask', reason: 'unknown' })
const UNKNOWN_DENY: Decision = Object.freeze({ classification: 'unknown', action: 'deny', reason: 'unknown' })

/** The policy's answer for `dest` (already normalised), with the reason and the rule that decided it. */
export function decide(policy: Policy, dest: Destination): Decision {
  let block: IndexEntry | undefined
  let allow: IndexEntry | undefined
  let hostOnly: IndexEntry | undefined
  for (const bucket of lookup(indexOf(policy), dest)) {
    for (const entry of bucket) {
      const portMatches = coversPort(entry.rule, dest.port)
      if (entry.rule.action === 'block') block = portMatches ? better(block, entry) : block
      else if (portMatches) allow = better(allow, entry)
      else hostOnly = better(hostOnly, entry)
    }
  }
  return outcome(policy, block, allow, hostOnly)
}

function outcome(policy: Policy, block?: IndexEntry, allow?: IndexEntry, hostOnly?: IndexEntry): Decision {
  if (block) return Object.freeze({ classification: 'blocked', action: 'deny', reason: 'blocked', rule: block.rule })
  if (allow) return Object.freeze({ classification: 'allowed', action: 'allow', reason: 'allowed', rule: allow.rule })
  const action = policy.default
  if (hostOnly) return Object.freeze({ classification: 'unknown', action, reason: 'port-not-allowed', rule: hostOnly.rule })
  return action === 'ask' ? UNKNOWN_ASK : UNKNOWN_DENY
}

/** Whether `rule` covers `port`. */
export function coversPort(rule: Rule, port: number): boolean {
  const ports = rule.ports
  if (ports.kind === 'any') return true
  if (ports.kind === 'range') return port >= ports.from && port <= ports.to
  return rule.action === 'block' || ALLOW_DEFAULT_PORTS.has(port)
}

function portSpan(action: Rule['action'], ports: PortSpec): number {
  if (ports.kind === 'range') return ports.to - ports.from + 1
  return ports.kind === 'default' && action === 'allow' ? ALLOW_DEFAULT_PORTS.size : 65535
}

/** The more specific of two entries; `current` on a full tie, since it was written first or is as good. */
function better(current: IndexEntry | undefined, next: IndexEntry): IndexEntry {
  if (current === undefined) return next
  if (next.specificity !== current.specificity) return next.specificity > current.specificity ? next : current
  const spanNext = portSpan(next.rule.action, next.rule.ports)
  const spanCurrent = portSpan(current.rule.action, current.rule.ports)
  if (spanNext !== spanCurrent) return spanNext < spanCurrent ? next : current
  return next.order < current.order ? next : current
}
