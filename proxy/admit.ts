/** The stages every proxied connection shares: decide, settle, then resolve and check the address. */
import { decide } from '../policy/decide.js'
import type { ClientGone } from './client-gone.js'
import type { ReasonCode } from '../policy/reasons.js'
import type { ProxyContext } from './context.js'
import { RESERVED_HOST } from './parse-target.js'
import type { ConnectionRecord } from './record.js'
import type { RefusalContext } from './refuse.js'
import { resolveChecked } from './resolve-checked.js'
import { settle } from './settle.js'

/** Either the one address to connect to, or a refusal value with its reason. */
export type Admission =
  | { readonly ok: true; readonly address: string }
  | { readonly ok: false; readonly reason: ReasonCode; readonly context: RefusalContext }

/**
 * Admits `record.destination`. The name is resolved only after the policy allowed it: a lookup of an
 * unknown name is itself a leak (the query carries the name to whoever runs the resolver).
 */
export async function admit(record: ConnectionRecord, ctx: ProxyContext, gone: ClientGone): Promise<Admission> {
  const destination = record.destination
  if (!destination) throw new Error('admit called before the target was parsed')
  if (destination.host === RESERVED_HOST) return { ok: false, reason: 'reserved-name', context: { destination } }
  // No egress goes unrecorded: while the audit log is behind, new connections wait, then are refused.
  const room = ctx.events.waitForRoom(ctx.limits.auditWaitMs, gone)
  if (room !== true && !(await room)) return { ok: false, reason: 'audit-unavailable', context: { destination } }
  const policy = ctx.policy.current
  const decision = (record.decision = decide(policy, destination))
  // Audit mode (explicit, never a fallback) seeks no approval and refuses nothing the policy would:
  // the record says what enforce would have done. Address safety below still refuses, because a
  // private address or a loop back into the proxy attacks the host it runs on, not a policy choice.
  if (policy.mode === 'audit') record.wouldVerdict = decision.action
  const settled = policy.mode === 'audit' ? { verdict: 'allow' as const, reason: decision.reason } : await settle(decision, record, ctx, gone)
  // An approval's outcome is the reason of record (approved, approval-denied, …), not the policy's `unknown`.
  if (decision.action === 'ask') record.decision = { ...decision, reason: settled.reason }
  if (settled.verdict !== 'allow') {
    const detail = settled.detail ?? (decision.reason === 'port-not-allowed' && settled.reason !== 'port-not-allowed' ? `the host is allowed on other ports only (port-not-allowed)` : undefined)
    return { ok: false, reason: settled.reason, context: { destination, ...(decision.rule && { rule: decision.rule }), ...(detail && { detail }) } }
  }
  const checked = await resolveChecked(destination, policy, ctx.resolver, ctx.self)
  if (!checked.ok) return { ok: false, reason: checked.reason, context: { destination, detail: checked.detail } }
  record.peerAddress = checked.address
  return { ok: true, address: checked.address }
}
