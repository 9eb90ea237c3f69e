/** Approval settings as the policy's `approval:` section and the command line give them. */
/** Risk levels an auto-reviewer assigns. */
export type Risk = 'low' | 'medium' | 'high' | 'critical'

/** The human approvers that can be offered an approval. */
export type HumanApprover = 'api' | 'cli' | 'web' | 'webhook'

/** The auto-reviewer: a command (JSON in, JSON out) or the built-in rules. */
export interface ReviewerConfig {
  /** argv of the reviewer; `builtin` uses the shipped rule-based reviewer. */
  readonly command: readonly string[] | 'builtin'
  /** Risk levels at which the reviewer may approve on its own. */
  readonly approveRisks: readonly Risk[]
  readonly timeoutMs: number
}

/** The webhook approver. */
export interface WebhookConfig {
  readonly url: string
  /** Name of the environment variable holding the HMAC secret (never the secret itself). */
  readonly secretEnv: string
  readonly timeoutMs: number
}

/** Everything the approval machinery needs; `approvers` empty means "no approver configured". */
export interface ApprovalConfig {
  readonly timeoutMs: number
  /** Parked requests per session at most. */
  readonly maxPendingPerSession: number
  /** Parked requests in all at most. */
  readonly maxPendingTotal: number
  readonly approvers: readonly HumanApprover[]
  readonly webhook?: WebhookConfig
  readonly reviewer?: ReviewerConfig
}

/**
 * Defaults: a minute is long enough for a person to look, short enough for clients that retry
 * (pip gives up after 15 s and comes back). A parked request costs one client socket and a few KB;
 * 128 per session covers a package manager opening 100 connections to one new host at once, and 512
 * in all keeps a flood to a few MB and half of the common 1,024 file-descriptor soft limit.
 */
export const DEFAULT_APPROVAL: ApprovalConfig = Object.freeze({
  timeoutMs: 60_000,
  maxPendingPerSession: 128,
  maxPendingTotal: 512,
  approvers: [],
})
