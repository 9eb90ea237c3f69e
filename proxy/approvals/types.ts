/** The approval vocabulary, shared by the registry, the API, the approvers and the events. */
import type { Verdict } from '../../policy/types.js'

/** How far a decision reaches: the requests waiting now, the rest of the session, or the policy itself. */
export type Scope = 'once' | 'session' | 'always'

/** Who settled an approval: `api:<token name>`, `cli`, `web`, `webhook`, `reviewer`, `timeout`. */
export type DecidedBy = string

export type { Risk } from '../../policy/approval-config.js'
import type { Risk } from '../../policy/approval-config.js'

/** A pending approval as listed by the API and shown to approvers. */
export interface ApprovalView {
  readonly id: string
  readonly session_id: string
  readonly prompt_id?: string
  readonly prompt_text?: string
  readonly host: string
  readonly port: number
  readonly first_seen: string
  readonly waiting: number
  readonly expires_at: string
  /** What the auto-reviewer said when it escalated, if it ran. */
  readonly review?: { readonly risk: Risk; readonly rationale: string }
}

/** A decision as it arrives from an approver. */
export interface ApprovalDecision {
  readonly decision: Verdict
  readonly scope: Scope
  readonly by: DecidedBy
}

/** A settled approval, kept in the recent list and emitted to watchers. */
export interface SettledApproval extends ApprovalView {
  readonly decision: Verdict
  readonly scope: Scope
  readonly by: DecidedBy
  readonly decided_at: string
}
