/** Turns a policy decision into a final verdict: `ask` is settled by an approver, or refused when there is none. */
import type { ReasonCode } from '../policy/reasons.js'
import type { Decision, Verdict } from '../policy/types.js'
import type { ProxyContext } from './context.js'
import type { ConnectionRecord } from './record.js'

/** The final verdict and the reason the client and the events are told. */
export interface Settled {
  readonly verdict: Verdict
  readonly reason: ReasonCode
}

/**
 * Fails closed: with no approver configured, `ask` is a refusal with its own reason, so the client
 * learns that an approval (not a rule change) is what is missing.
 */
export async function settle(decision: Decision, _record: ConnectionRecord, _ctx: ProxyContext, _signal: AbortSignal): Promise<Settled> {
  if (decision.action === 'allow') return { verdict: 'allow', reason: decision.reason }
  if (decision.action === 'deny') return { verdict: 'deny', reason: decision.reason }
  return { verdict: 'deny', reason: 'approval-required' }
}
