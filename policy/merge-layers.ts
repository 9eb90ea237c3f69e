/**
 * Merges policy layers (system → user → project → cli → decisions; lists concatenate, later scalars
 * win) and holds each layer to what it may set. The user and project layers, and the decisions file,
 * may only add host rules: a trusted repository can widen where the agent may go, but never pick its
 * own approver, receive a secret, reach private networks or switch the proxy to audit mode.
 */
import type { ApprovalConfig } from './approval-config.js'
import { keyPlace, yamlKey } from './key-place.js'
import type { PolicyProblem } from './policy-error.js'
import type { PolicySource, SourceContent } from './read-source.js'
import type { AuditSettings, Cidr, Clamp, DefaultAction, Layer, Mode, Rule } from './types.js'

/** The layers merged so far, remembering which source set each scalar (for clamp messages). */
export interface Merged {
  default: DefaultAction
  defaultFrom?: PolicySource
  rules: Rule[]
  allowPrivate: { readonly cidr: Cidr; readonly from: PolicySource }[]
  approval?: Partial<ApprovalConfig>
  approvalFrom?: PolicySource
  audit?: AuditSettings
  mode?: Mode
  modeFrom?: PolicySource
  tlsPorts?: readonly number[]
  readonly clamps: Clamp[]
}

/** Layers that may only add `allow` and `block` rules. */
const RULES_ONLY: ReadonlySet<Layer> = new Set(['user', 'project', 'decisions'])
/** Keys that bound layers and so mean something only in the requirements file. */
const REQUIREMENT_ONLY = ['allowedDomainsOnly', 'forbid'] as const

/** An empty merge: unknown destinations `ask` until a layer says otherwise. */
export function emptyMerge(): Merged {
  return { default: 'ask', rules: [], allowPrivate: [], clamps: [] }
}

/** Adds one non-requirements source to the merge, after holding it to its layer's limits. */
export function mergeContent(merged: Merged, source: PolicySource, content: SourceContent, problems: PolicyProblem[]): void {
  restrictLayer(source, content, problems, merged.clamps)
  if (content.default !== undefined) Object.assign(merged, { default: content.default, defaultFrom: source })
  if (content.approval) Object.assign(merged, { approval: { ...merged.approval, ...content.approval }, approvalFrom: source })
  if (content.audit) merged.audit = { ...merged.audit, ...content.audit }
  if (content.mode !== undefined) Object.assign(merged, { mode: content.mode, modeFrom: source })
  if (content.tlsPorts !== undefined) merged.tlsPorts = content.tlsPorts
  merged.rules.push(...content.rules)
  for (const cidr of content.allowPrivate) merged.allowPrivate.push({ cidr, from: source })
}

/**
 * Requirement-only keys outside the requirements file are errors (their author believes they bound
 * something); settings in a rules-only layer are clamped: dropped, and reported by name and place.
 */
function restrictLayer(source: PolicySource, content: SourceContent, problems: PolicyProblem[], clamps: Clamp[]): void {
  const layer = source.layer ?? 'cli'
  for (const field of REQUIREMENT_ONLY) {
    if (content[field] === undefined) continue
    problems.push({ ...keyPlace(source, yamlKey(field)), message: `'${yamlKey(field)}' belongs in the managed requirements file, not in a policy file`, fix: 'move it to /etc/guarded/requirements.yaml (or the file given with --requirements)' })
    drop(content, field)
  }
  if (!RULES_ONLY.has(layer)) return
  for (const field of setFields(content)) {
    const key = yamlKey(field)
    const message = `the ${layer} layer may only add allow and block rules; its '${key}' is ignored (it comes only from the system layer, managed requirements or the command line)`
    clamps.push({ requirement: 'layer', subject: keyPlace(source, key), layer, message })
    drop(content, field)
  }
}

/** Empties one field: lists become empty, scalars and sections undefined. */
function drop(content: SourceContent, field: string): void {
  const record = content as unknown as Record<string, unknown>
  record[field] = Array.isArray(record[field]) ? [] : undefined
}

/** Content fields other than the rules that this source actually set. */
function setFields(content: SourceContent): string[] {
  return Object.entries(content)
    .filter(([field, value]) => field !== 'rules' && value !== undefined && !(Array.isArray(value) && value.length === 0))
    .map(([field]) => field)
}
