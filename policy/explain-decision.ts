/** `policy explain`: a decision in words — the classification, the rule, its layer and place, and the clamps that touched it. */
import { decide } from './decide.js'
import { decideRequest, type RequestQuery } from './decide-request.js'
import { formatDestination } from './parse-destination.js'
import { at, hostCovers } from './rule-relations.js'
import type { Destination, Policy, Rule } from './types.js'

/** The explanation as lines of text, the first naming the destination. */
export function explainDecision(policy: Policy, dest: Destination, request?: RequestQuery): string[] {
  const decision = request ? decideRequest(policy, dest, request) : decide(policy, dest)
  const what = request ? `${request.method} ${formatDestination(dest)}${request.path}` : formatDestination(dest)
  const lines = [`${what}: ${decision.classification} (action ${decision.action}, reason ${decision.reason})`]
  lines.push(decision.rule ? `  rule: ${describeRule(decision.rule)}` : `  rule: none matches; the default (${policy.default}) applies`)
  if (policy.mode === 'audit') lines.push(`  mode: audit — nothing is refused; events record would_verdict ${decision.action}`)
  for (const clamp of policy.clamps ?? []) {
    if (clamp.rule ? !matchesHost(clamp.rule, dest) : !(clamp.requirement === 'default' && !decision.rule)) continue
    lines.push(`  clamped: ${clamp.message} (${clamp.layer} layer, ${at(clamp.subject)}${clamp.bound ? `; requirement at ${at(clamp.bound)}` : ''})`)
  }
  return lines
}

/** `block '*.pastebin.com' (requirements layer, /etc/guarded/requirements.yaml:3:5)`. */
export function describeRule(rule: Rule): string {
  return `${rule.action} '${rule.pattern}' (${rule.layer} layer, ${at(rule.source)})`
}

function matchesHost(rule: Rule, dest: Destination): boolean {
  const exact = dest.kind === 'name' ? { kind: 'exact' as const, host: dest.host } : { kind: 'cidr' as const, family: dest.kind, address: dest.host, prefix: dest.kind === 4 ? 32 : 128 }
  return hostCovers(rule.host, exact)
}
