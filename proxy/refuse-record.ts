/** Refuses a connection or request: one decision event, the session's memory of it, and the explained answer. */
import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ReasonCode } from '../policy/reasons.js'
import type { ProxyContext } from './context.js'
import { describeError } from './errors.js'
import { emitDecision, type ConnectionRecord } from './record.js'
import { renderRefusal, writeRefusalToResponse, writeRefusalToSocket, type Refusal, type RefusalContext } from './refuse.js'
import { rememberRefusal } from './sessions.js'

/** Where the rendered refusal goes: a raw socket (CONNECT, upgrades) or a response (plain HTTP). */
export type RefusalWriter = (refusal: Refusal) => void

/** Writes to a raw client socket and closes it. */
export const toSocket = (socket: Duplex): RefusalWriter => (refusal) => writeRefusalToSocket(socket, refusal)

/** Writes to a plain-HTTP response; the kept-alive connection survives. */
export const toResponse = (res: ServerResponse): RefusalWriter => (refusal) => writeRefusalToResponse(res, refusal)

/** Refuses with an explained response; the decision event carries the same reason. */
export function refuseRecord(write: RefusalWriter, record: ConnectionRecord, ctx: ProxyContext, reason: ReasonCode, context: RefusalContext): void {
  const event = emitDecision(ctx.events, record, 'deny', reason)
  const session = ctx.sessions.get(record.sessionId)
  if (event && session) rememberRefusal(session, event)
  record.outcome = 'refused'
  write(renderRefusal(reason, context))
}

/** Maps a thrown error to its refusal and records its type. */
export function refuseRecordWithError(write: RefusalWriter, record: ConnectionRecord, ctx: ProxyContext, err: unknown): void {
  const { reason, errorType, detail, upstream } = describeError(err)
  record.errorType = errorType
  refuseRecord(write, record, ctx, reason, { ...(record.destination && { destination: record.destination }), ...(detail && { detail }) })
  if (upstream) record.outcome = 'upstream-error'
}
