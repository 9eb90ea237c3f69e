/**
 * `loadPolicy` turns policy sources into one frozen, normalised `Policy`, or throws one `PolicyError`
 * listing every problem in every source. Sources merge in order: lists concatenate, later scalars win;
 * each layer is held to what it may set, and managed requirements bound the result.
 */
import { indexOf } from './policy-index.js'
import { PolicyError, type PolicyProblem } from './policy-error.js'
import { readSource, type PolicySource } from './read-source.js'
import { applyRequirements } from './apply-requirements.js'
import { emptyMerge, mergeContent } from './merge-layers.js'
import { readRequirements, type RequirementsRead } from './read-requirements.js'
import type { Policy } from './types.js'

/**
 * Loads and merges policy sources (already read by the caller); throws `PolicyError` on any problem.
 * Sources are given lowest precedence first; one with layer `requirements` bounds all the others
 * wherever it appears in the list, and its rules come first so a tie names the requirement.
 */
export function loadPolicy(sources: readonly PolicySource[]): Policy {
  const problems: PolicyProblem[] = []
  if (sources.length === 0) problems.push({ file: '(none)', line: 1, col: 1, message: 'no policy source was given', fix: 'pass at least one policy file' })
  const merged = emptyMerge()
  let bounds: RequirementsRead | undefined
  for (const source of sources) {
    const content = readSource(source, problems)
    if (source.layer === 'requirements') bounds = readRequirements(source, content, problems, bounds)
    else mergeContent(merged, source, content, problems)
  }
  if (problems.length > 0) throw new PolicyError(problems)
  if (bounds) applyRequirements(merged, bounds)
  const policy: Policy = deepFreeze({
    version: 1,
    default: merged.default,
    rules: bounds ? [...bounds.rules, ...merged.rules] : merged.rules,
    allowPrivate: merged.allowPrivate.map((p) => p.cidr),
    ...(merged.approval && { approval: merged.approval }),
    ...(merged.audit && { audit: merged.audit }),
    ...(merged.tlsPorts && { tlsPorts: merged.tlsPorts }),
    files: sources.map((s) => s.file),
    ...(merged.mode && { mode: merged.mode }),
    ...(bounds && { requirements: bounds.requirements }),
    ...(merged.clamps.length > 0 && { clamps: merged.clamps }),
  })
  indexOf(policy) // compile now, so the first connection does not pay for it and a bad index fails here
  return policy
}

/**
 * Makes a policy that crossed a thread boundary (structured clone: plain data, unfrozen, no index)
 * whole again: frozen all the way down, with its index built here, where `decide` will use it.
 */
export function revivePolicy(plain: Policy): Policy {
  const policy = deepFreeze(plain)
  indexOf(policy)
  return policy
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
