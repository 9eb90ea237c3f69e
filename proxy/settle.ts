/** Turns a policy decision into a final verdict: `ask` is parked until an approver decides, or fails closed. */
import type { ReasonCode } from '../policy/reasons.js'
import type { Decision, Verdict } from '../policy/types.js'
import type { ClientGone } from './client-gone.js'
import type { ProxyContext } from './context.js'
import type { ConnectionRecord } from './record.js'

/** The final verdict and the reason the client and the events are told. */
export interface Settled {
  readonly verdict: Verdict
  readonly reason: ReasonCode
  readonly detail?: string
}

/**
 * Fails closed: with no approver configured, `ask` is a refusal with its own reason, so the client
 * learns that an approval (not a rule change) is what is missing. The name is not resolved while parked.
 */
export async function settle(decision: Decision, record: ConnectionRecord, ctx: ProxyContext, gone: ClientGone): Promise<Settled> {
  if (decision.action !== 'ask') return { verdict: decision.action, reason: decision.reason }
  const config = ctx.approvalConfig()
  if (config.approvers.length === 0 && !config.reviewer) return { verdict: 'deny', reason: 'approval-required' }
  const destination = record.destination!
  const outcome = await ctx.approvals.request(
    {
      sessionId: record.sessionId,
      host: destination.host,
      port: destination.port,
      ...(record.prompt && { promptId: record.prompt.id }),
      ...(record.prompt?.text !== undefined && { promptText: record.prompt.text }),
    },
    gone(),
  )
  record.approval = { ...(outcome.by && { by: outcome.by }), ...(outcome.scope && { scope: outcome.scope }), latencyMs: outcome.latencyMs }
  return { verdict: outcome.verdict, reason: outcome.reason, ...(outcome.detail && { detail: outcome.detail }) }
}
