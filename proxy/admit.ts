/** The stages every proxied connection shares: decide, settle, then resolve and check the address. */
import { decide } from '../policy/decide.js'
import type { ClientGone } from './client-gone.js'
import type { ReasonCode } from '../policy/reasons.js'
import type { Policy } from '../policy/types.js'
import type { ProxyContext } from './context.js'
import { RESERVED_HOST } from './parse-target.js'
import type { ConnectionRecord } from './record.js'
import type { RefusalContext } from './refuse.js'
import { resolveChecked, type CheckedAddress } from './resolve-checked.js'
import { settle, type Settled } from './settle.js'

/** Either the one address to connect to, or a refusal value with its reason. */
export type Admission =
  | { readonly ok: true; readonly address: string }
  | { readonly ok: false; readonly reason: ReasonCode; readonly context: RefusalContext }

/**
 * Admits `record.destination`. The name is resolved only after the policy allowed it: a lookup of an
 * unknown name is itself a leak (the query carries the name to whoever runs the resolver).
 *
 * Answers at once, without a promise, unless something must be waited for: room in the audit log, an
 * approval, a DNS lookup. A busy proxy admits most connections that way (issue 2's CONNECT rate).
 */
export function admit(record: ConnectionRecord, ctx: ProxyContext, gone: ClientGone): Admission | Promise<Admission> {
  const destination = record.destination
  if (!destination) throw new Error('admit called before the target was parsed')
  if (destination.host === RESERVED_HOST) return { ok: false, reason: 'reserved-name', context: { destination } }
  // No egress goes unrecorded: while the audit log is behind, new connections wait, then are refused.
  const room = ctx.events.waitForRoom(ctx.limits.auditWaitMs, gone)
  if (room === true) return decideAndCheck(record, ctx, gone)
  return room.then((ok) => (ok ? decideAndCheck(record, ctx, gone) : { ok: false, reason: 'audit-unavailable', context: { destination } }))
}

function decideAndCheck(record: ConnectionRecord, ctx: ProxyContext, gone: ClientGone): Admission | Promise<Admission> {
  const policy = ctx.policy.current
  const decision = (record.decision = decide(policy, record.destination!))
  // Audit mode (explicit, never a fallback) seeks no approval and refuses nothing the policy would:
  // the record says what enforce would have done. Address safety below still refuses, because a
  // private address or a loop back into the proxy attacks the host it runs on, not a policy choice.
  if (policy.mode === 'audit') {
    record.wouldVerdict = decision.action
    return resolveAllowed(record, ctx, policy, { verdict: 'allow', reason: decision.reason })
  }
  if (decision.action !== 'ask') return resolveAllowed(record, ctx, policy, { verdict: decision.action, reason: decision.reason })
  return settle(decision, record, ctx, gone).then((settled) => {
    // An approval's outcome is the reason of record (approved, approval-denied, …), not the policy's `unknown`.
    record.decision = { ...decision, reason: settled.reason }
    return resolveAllowed(record, ctx, policy, settled)
  })
}

/** The address check runs against the policy that decided, even when a reload came during an approval. */
function resolveAllowed(record: ConnectionRecord, ctx: ProxyContext, policy: Policy, settled: Settled): Admission | Promise<Admission> {
  const destination = record.destination!
  if (settled.verdict !== 'allow') {
    const decision = record.decision!
    const detail = settled.detail ?? (decision.reason === 'port-not-allowed' && settled.reason !== 'port-not-allowed' ? `the host is allowed on other ports only (port-not-allowed)` : undefined)
    return { ok: false, reason: settled.reason, context: { destination, ...(decision.rule && { rule: decision.rule }), ...(detail && { detail }) } }
  }
  const checked = resolveChecked(destination, policy, ctx.resolver, ctx.self)
  return checked instanceof Promise ? checked.then((found) => admitted(record, found)) : admitted(record, checked)
}

function admitted(record: ConnectionRecord, checked: CheckedAddress): Admission {
  if (!checked.ok) return { ok: false, reason: checked.reason, context: { destination: record.destination!, detail: checked.detail } }
  record.peerAddress = checked.address
  return { ok: true, address: checked.address }
}
