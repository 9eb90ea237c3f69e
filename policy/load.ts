/**
 * `loadPolicy` turns policy sources into one frozen, normalised `Policy`, or throws one `PolicyError`
 * listing every problem in every source. Sources merge in order: lists concatenate, later scalars win.
 */
import { indexOf } from './policy-index.js'
import { PolicyError, type PolicyProblem } from './policy-error.js'
import { readSource, type PolicySource } from './read-source.js'
import type { AuditSettings, Cidr, DefaultAction, Policy, Rule } from './types.js'
import type { ApprovalConfig } from './approval-config.js'

/** Loads and merges policy sources (already read by the caller); throws `PolicyError` on any problem. */
export function loadPolicy(sources: readonly PolicySource[]): Policy {
  const problems: PolicyProblem[] = []
  if (sources.length === 0) problems.push({ file: '(none)', line: 1, col: 1, message: 'no policy source was given', fix: 'pass at least one policy file' })
  let defaultAction: DefaultAction = 'ask'
  const rules: Rule[] = []
  const allowPrivate: Cidr[] = []
  let approval: Partial<ApprovalConfig> | undefined
  let audit: AuditSettings | undefined
  for (const source of sources) {
    const content = readSource(source, problems)
    defaultAction = content.default ?? defaultAction
    if (content.approval) approval = { ...approval, ...content.approval }
    if (content.audit) audit = { ...audit, ...content.audit }
    rules.push(...content.rules)
    allowPrivate.push(...content.allowPrivate)
  }
  if (problems.length > 0) throw new PolicyError(problems)
  const policy: Policy = deepFreeze({
    version: 1,
    default: defaultAction,
    rules,
    allowPrivate,
    ...(approval && { approval }),
    ...(audit && { audit }),
    files: sources.map((s) => s.file),
  })
  indexOf(policy) // compile now, so the first connection does not pay for it and a bad index fails here
  return policy
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
