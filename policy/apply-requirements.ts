/**
 * Bounds the merged layers by the managed requirements. Whatever a lower layer asked for beyond a
 * requirement is clamped and reported by name and place, never silently applied.
 */
import { DEFAULT_APPROVAL, type ApprovalConfig } from './approval-config.js'
import { keyPlace } from './key-place.js'
import type { Merged } from './merge-layers.js'
import type { RequirementsRead } from './read-requirements.js'
import { at, cidrCovers, ruleCovers, rulesOverlap } from './rule-relations.js'
import type { Clamp, Policy, Rule } from './types.js'

/** Applies every bound to `merged` in place, appending a clamp for each thing it overrode. */
export function applyRequirements(merged: Merged, bounds: RequirementsRead): void {
  reportOverriddenAllows(merged, bounds)
  if (bounds.requirements.allowedDomainsOnly) dropLowerAllows(merged, bounds)
  boundDefault(merged, bounds)
  boundApprovalSection(merged, bounds)
  boundAllowPrivate(merged, bounds)
  if (bounds.requirements.forbid.includes('audit-mode') && merged.mode === 'audit') {
    merged.clamps.push({ requirement: 'forbid: audit-mode', bound: keyPlace(bounds.source, 'forbid'), subject: keyPlace(merged.modeFrom ?? bounds.source, 'mode'), layer: merged.modeFrom?.layer ?? 'cli', message: "'mode: audit' is forbidden by the requirements; enforce applies" })
    merged.mode = 'enforce'
  }
}

/** A requirement block beats any allow anyway (`decide`); this says so at load time, by name. */
function reportOverriddenAllows(merged: Merged, bounds: RequirementsRead): void {
  const blocks = bounds.rules.filter((r) => r.action === 'block')
  if (blocks.length === 0) return
  for (const allow of merged.rules) {
    if (allow.action !== 'allow') continue
    const block = blocks.find((b) => rulesOverlap(b, allow))
    if (!block) continue
    const effect = ruleCovers(block, allow) ? 'has no effect' : 'is narrowed'
    merged.clamps.push(ruleClamp('block', block, allow, `allow '${allow.pattern}' ${effect}: requirement block '${block.pattern}' (${at(block.source)}) cannot be overridden`))
  }
}

function dropLowerAllows(merged: Merged, bounds: RequirementsRead): void {
  const bound = keyPlace(bounds.source, 'allowed_domains_only')
  merged.rules = merged.rules.filter((rule) => {
    if (rule.action !== 'allow') return true
    merged.clamps.push({ requirement: 'allowed_domains_only', bound, subject: rule.source, layer: rule.layer, rule, message: `allow '${rule.pattern}' is ignored: the requirements allow only their own domains (allowed_domains_only)` })
    return false
  })
}

/** `deny` is the stricter default: a requirement of `deny` turns any layer's `ask` into `deny`. */
function boundDefault(merged: Merged, bounds: RequirementsRead): void {
  if (bounds.requirements.default !== 'deny' || merged.default === 'deny') return
  if (merged.defaultFrom) {
    const from = merged.defaultFrom
    merged.clamps.push({ requirement: 'default', bound: keyPlace(bounds.source, 'default'), subject: keyPlace(from, 'default'), layer: from.layer ?? 'cli', message: "'default: ask' is looser than the requirements allow; default: deny applies" })
  }
  merged.default = 'deny'
}

function boundApprovalSection(merged: Merged, bounds: RequirementsRead): void {
  const req = bounds.requirements
  const ceilings = [['timeoutMs', 'approval.timeout', req.approvalTimeoutMs], ['maxPendingPerSession', 'approval.max_pending', req.maxPending]] as const
  for (const [field, name, ceiling] of ceilings) {
    if (ceiling === undefined) continue
    const asked = merged.approval?.[field]
    if (asked !== undefined && asked > ceiling && merged.approvalFrom) {
      const from = merged.approvalFrom
      merged.clamps.push({ requirement: name, bound: keyPlace(bounds.source, 'approval'), subject: keyPlace(from, 'approval'), layer: from.layer ?? 'cli', message: `'${name}' of ${asked} exceeds the requirements' ceiling of ${ceiling}; ${ceiling} applies` })
    }
    // With no layer setting it, the built-in default must still respect the ceiling.
    merged.approval = { ...merged.approval, [field]: Math.min(asked ?? DEFAULT_APPROVAL[field], ceiling) }
  }
}

function boundAllowPrivate(merged: Merged, bounds: RequirementsRead): void {
  const ceiling = bounds.requirements.allowPrivate
  if (ceiling === undefined) return
  const bound = keyPlace(bounds.source, 'allow_private')
  merged.allowPrivate = merged.allowPrivate.filter(({ cidr, from }) => {
    if (ceiling.some((c) => cidrCovers(c, cidr))) return true
    const allowed = ceiling.length === 0 ? 'none' : ceiling.map((c) => c.text).join(', ')
    merged.clamps.push({ requirement: 'allow_private', bound, subject: keyPlace(from, 'allow_private'), layer: from.layer ?? 'cli', message: `allow_private '${cidr.text}' is outside the requirements' ceiling (${allowed}); it is ignored` })
    return false
  })
}

function ruleClamp(requirement: string, bound: Rule, rule: Rule, message: string): Clamp {
  return { requirement, bound: bound.source, subject: rule.source, layer: rule.layer, rule, message }
}

/**
 * The approval settings in force, with the requirements' ceilings applied last, so command-line
 * flags (merged after the policy by the proxy) cannot exceed them either.
 */
export function boundApproval(config: ApprovalConfig, policy: Policy): ApprovalConfig {
  const req = policy.requirements
  if (!req) return config
  return {
    ...config,
    timeoutMs: Math.min(config.timeoutMs, req.approvalTimeoutMs ?? Infinity),
    maxPendingPerSession: Math.min(config.maxPendingPerSession, req.maxPending ?? Infinity),
  }
}
