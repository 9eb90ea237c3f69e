/** Refusals on a raw client socket (CONNECT and upgrades), with the decision event that explains them. */
import type { Duplex } from 'node:stream'
import type { ReasonCode } from '../policy/reasons.js'
import type { ProxyContext } from './context.js'
import { describeError } from './errors.js'
import { emitDecision, type ConnectionRecord } from './record.js'
import { renderRefusal, writeRefusalToSocket, type RefusalContext } from './refuse.js'

/** Refuses with an explained response; the decision event carries the same reason. */
export function refuseOnSocket(socket: Duplex, record: ConnectionRecord, ctx: ProxyContext, reason: ReasonCode, context: RefusalContext): void {
  emitDecision(ctx.events, record, 'deny', reason)
  record.outcome = 'refused'
  writeRefusalToSocket(socket, renderRefusal(reason, context))
}

/** Maps a thrown error to its refusal and records its type. */
export function refuseOnSocketWithError(socket: Duplex, record: ConnectionRecord, ctx: ProxyContext, err: unknown): void {
  const { reason, errorType, detail, upstream } = describeError(err)
  record.errorType = errorType
  refuseOnSocket(socket, record, ctx, reason, { ...(record.destination && { destination: record.destination }), ...(detail && { detail }) })
  if (upstream) record.outcome = 'upstream-error'
}
