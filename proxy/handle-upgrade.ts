/** WebSocket upgrades (`GET http://host/ws` with `Upgrade: websocket`); every other upgrade is refused. */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { admit } from './admit.js'
import { attachSession, type ListenerInfo } from './attach-session.js'
import { checkProtocol } from './check-protocol.js'
import type { ProxyContext } from './context.js'
import { BadTargetError } from './errors.js'
import type { HttpForwarder } from './forward-http.js'
import { clientGone } from './client-gone.js'
import { stripHopByHop } from './hop-by-hop.js'
import { parseHttpTarget } from './parse-target.js'
import { emitClose, emitDecision, openRecord } from './record.js'
import { refuseRecord, refuseRecordWithError, toSocket } from './refuse-record.js'

/** Serves one upgrade request. */
export async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ProxyContext, forwarder: HttpForwarder, listener: ListenerInfo): Promise<void> {
  const record = openRecord('upgrade', req.socket.remoteAddress ?? '', ctx.defaultSessionId)
  record.method = req.method ?? ''
  const refuseWith = toSocket(socket)
  try {
    checkProtocol(req)
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || req.method !== 'GET') {
      throw new BadTargetError(`Upgrade ${JSON.stringify(req.headers.upgrade ?? '')} is refused; only WebSocket upgrades of GET requests are carried`, 'unsupported-protocol')
    }
    const target = parseHttpTarget(req.url ?? '', req.rawHeaders)
    record.destination = target.destination
    const unidentified = attachSession(record, req, listener, ctx)
    if (unidentified) return refuseRecord(refuseWith, record, ctx, 'auth-required', { detail: unidentified })
    const admission = await admit(record, ctx, clientGone(socket))
    if (!admission.ok) return refuseRecord(refuseWith, record, ctx, admission.reason, admission.context)
    emitDecision(ctx.events, record, 'allow', record.decision?.reason ?? 'allowed')
    stripHopByHop(req.headers, true)
    req.url = target.path
    const result = await forwarder.ws(req, socket, head, admission.address, target.destination.port)
    record.outcome = result.outcome
    if (result.error) throw result.error
  } catch (err) {
    refuseRecordWithError(refuseWith, record, ctx, err)
  } finally {
    emitClose(ctx.events, record)
  }
}
