/**
 * Reads a managed requirements file (`/etc/guarded/requirements.yaml`, or `--requirements FILE`).
 * It is written in the policy file's syntax, but it bounds every layer instead of being one:
 * `block` can't be overridden, `default`, `approval.timeout`, `approval.max_pending` and
 * `allow_private` are ceilings, `allowed_domains_only` and `forbid` remove freedoms.
 */
import { hasKey, keyPlace, yamlKey } from './key-place.js'
import type { PolicyProblem } from './policy-error.js'
import type { PolicySource, SourceContent } from './read-source.js'
import type { Requirements, Rule } from './types.js'

/** A requirements file as read: its bounds, its own rules, and the source (for places in messages). */
export interface RequirementsRead {
  readonly requirements: Requirements
  readonly rules: readonly Rule[]
  readonly source: PolicySource
}

/** Fields a requirements file may set; anything else is a problem, never silently ignored. */
const ALLOWED = new Set(['rules', 'allowPrivate', 'default', 'approval', 'allowedDomainsOnly', 'forbid'])
const APPROVAL_ALLOWED = new Set(['timeoutMs', 'maxPendingPerSession'])

/** Turns one requirements source's content into bounds; a second requirements source is a problem. */
export function readRequirements(source: PolicySource, content: SourceContent, problems: PolicyProblem[], earlier?: RequirementsRead): RequirementsRead {
  if (earlier) problems.push({ file: source.file, line: 1, col: 1, message: `only one requirements file may bound a policy (${earlier.source.file} already does)`, fix: 'merge the two requirements files into one' })
  for (const [field, value] of Object.entries(content)) {
    if (ALLOWED.has(field) || value === undefined) continue
    problems.push({ ...keyPlace(source, yamlKey(field)), message: `'${yamlKey(field)}' cannot be set in the requirements file`, fix: requirementFix(field) })
  }
  for (const field of Object.keys(content.approval ?? {}).filter((f) => !APPROVAL_ALLOWED.has(f))) {
    problems.push({ ...keyPlace(source, 'approval'), message: `'approval.${approvalKey(field)}' cannot be set in the requirements file`, fix: 'requirements bound approval.timeout and approval.max_pending only; set approvers in the system layer or on the command line' })
  }
  const requirements: Requirements = {
    file: source.file,
    allowedDomainsOnly: content.allowedDomainsOnly ?? false,
    ...(content.default !== undefined && { default: content.default }),
    ...(content.approval?.timeoutMs !== undefined && { approvalTimeoutMs: content.approval.timeoutMs }),
    ...(content.approval?.maxPendingPerSession !== undefined && { maxPending: content.approval.maxPendingPerSession }),
    ...(hasKey(source, 'allow_private') && { allowPrivate: content.allowPrivate }),
    forbid: content.forbid ?? [],
  }
  return { requirements, rules: content.rules, source }
}

function requirementFix(field: string): string {
  if (field === 'mode') return 'requirements bound modes rather than pick one: write "forbid: [audit-mode]" to keep every layer in enforce mode'
  return 'a requirements file may set version, block, allow, allowed_domains_only, default, approval (timeout, max_pending), allow_private and forbid'
}

function approvalKey(field: string): string {
  return field === 'maxPendingTotal' ? 'max_pending_total' : yamlKey(field)
}
