/** A `CONNECT host:port` tunnel, from request line to close, read top to bottom. */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { admit } from './admit.js'
import { attachSession, type ListenerInfo } from './attach-session.js'
import { connectTo } from './connect-to.js'
import type { ProxyContext } from './context.js'
import { parseConnectTarget } from './parse-target.js'
import { pipe } from './pipe.js'
import { emitClose, emitDecision, openRecord } from './record.js'
import { refuseRecord, refuseRecordWithError, toSocket } from './refuse-record.js'

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n'

/** Serves one CONNECT request on its client socket. */
export async function handleConnect(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ProxyContext, listener: ListenerInfo): Promise<void> {
  const record = openRecord('connect', req.socket.remoteAddress ?? '', ctx.defaultSessionId)
  record.method = 'CONNECT'
  const refuseWith = toSocket(socket)
  const aborted = abortOnClose(socket)
  try {
    record.destination = parseConnectTarget(req.url ?? '')
    const unidentified = attachSession(record, req, listener, ctx)
    if (unidentified) return refuseRecord(refuseWith, record, ctx, 'auth-required', { detail: unidentified })
    const admission = await admit(record, ctx, aborted)
    if (!admission.ok) return refuseRecord(refuseWith, record, ctx, admission.reason, admission.context)
    emitDecision(ctx.events, record, 'allow', record.decision?.reason ?? 'allowed')
    const upstream = await connectTo(admission.address, record.destination.port, ctx.limits.connectTimeoutMs, aborted)
    socket.write(ESTABLISHED)
    const result = await pipe(socket, upstream, ctx.limits.idleTimeoutMs, head)
    Object.assign(record, { bytesSent: result.sent, bytesReceived: result.received, outcome: result.outcome, errorType: result.errorType })
  } catch (err) {
    refuseRecordWithError(refuseWith, record, ctx, err)
  } finally {
    emitClose(ctx.events, record)
  }
}

/** An AbortSignal that fires when the client goes away, so parked or connecting work stops. */
export function abortOnClose(socket: Duplex): AbortSignal {
  const controller = new AbortController()
  socket.once('close', () => controller.abort())
  return controller.signal
}
