/** One HTTP/1.1 request inside an inspected tunnel: decided on its own, refused with the explained 403, or forwarded. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { decideRequest } from '../policy/decide-request.js'
import { checkProtocol } from './check-protocol.js'
import type { ProxyContext } from './context.js'
import { stripHopByHop } from './hop-by-hop.js'
import { injectCredential } from './inject-credentials.js'
import { inspectTarget } from './inspect-target.js'
import { formatAuthority } from './parse-target.js'
import { emitClose, emitDecision, openRecord, type ConnectionRecord } from './record.js'
import { refuseRecord, refuseRecordWithError, toResponse } from './refuse-record.js'
import type { Inspector } from './tls-inspection.js'

/** What the requests of one terminated tunnel share: the CONNECT's record (session, prompt, target) and its checked address. */
export interface Tunnel {
  readonly ctx: ProxyContext
  readonly connect: ConnectionRecord
  readonly address: string
}

/** Serves one request read from a terminated tunnel. */
export async function inspectRequest(req: IncomingMessage, res: ServerResponse, tunnel: Tunnel, inspector: Inspector): Promise<void> {
  const { ctx, connect } = tunnel
  const destination = connect.destination!
  const record = openRecord('http', connect.clientAddress, connect.sessionId)
  Object.assign(record, { method: req.method ?? '', destination, peerAddress: tunnel.address, ...(connect.prompt && { prompt: connect.prompt }) })
  const refuseWith = toResponse(res)
  try {
    checkProtocol(req)
    const target = inspectTarget(req, destination)
    if (!target.ok) return refuseRecord(refuseWith, record, ctx, target.reason, { destination, detail: target.detail })
    record.path = target.path
    const policy = ctx.policy.current
    const decision = (record.decision = decideRequest(policy, destination, { method: record.method ?? '', path: target.path }))
    if (decision.action !== 'allow') return refuseRecord(refuseWith, record, ctx, decision.reason, { destination, ...(decision.rule && { rule: decision.rule }), detail: `${record.method} ${target.path}` })
    const room = ctx.events.waitForRoom(ctx.limits.auditWaitMs)
    if (room !== true && !(await room)) return refuseRecord(refuseWith, record, ctx, 'audit-unavailable', { destination })
    emitDecision(ctx.events, record, 'allow', decision.reason)
    const headers = { ...req.headers }
    prepareHeaders(headers, req, res, formatAuthority(destination, 443))
    injectCredential(headers, inspector.credential(policy, decision.rule))
    const result = await inspector.upstream.forward(req, res, { destination, address: tunnel.address, method: record.method ?? '', path: target.forward, headers })
    Object.assign(record, { bytesSent: result.sent, bytesReceived: result.received, outcome: result.outcome })
  } catch (err) {
    refuseRecordWithError(refuseWith, record, ctx, err)
  } finally {
    emitClose(ctx.events, record)
  }
}

/** No hop-by-hop headers, our own Host, and the body invited only now that the request is admitted (RFC 9110 §10.1.1). */
function prepareHeaders(headers: IncomingMessage['headers'], req: IncomingMessage, res: ServerResponse, authority: string): void {
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue()
  delete headers.expect // undici refuses it; the client already has its 100
  stripHopByHop(headers)
  headers.host = authority
}
