/** A plain-HTTP proxy request (`GET http://host/path`), classified on its own even on a kept-alive connection. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ReasonCode } from '../policy/reasons.js'
import { admit } from './admit.js'
import { checkProtocol } from './check-protocol.js'
import type { ProxyContext } from './context.js'
import { describeError } from './errors.js'
import type { HttpForwarder } from './forward-http.js'
import { stripHopByHop } from './hop-by-hop.js'
import { formatAuthority, parseHttpTarget } from './parse-target.js'
import { emitClose, emitDecision, openRecord, type ConnectionRecord } from './record.js'
import { renderRefusal, writeRefusalToResponse, type RefusalContext } from './refuse.js'

/** Serves one absolute-form request. */
export async function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: ProxyContext, forwarder: HttpForwarder): Promise<void> {
  const record = openRecord('http', req.socket.remoteAddress ?? '', ctx.defaultSessionId)
  record.method = req.method ?? ''
  try {
    checkProtocol(req)
    const target = parseHttpTarget(req.url ?? '', req.rawHeaders)
    record.destination = target.destination
    const admission = await admit(record, ctx)
    if (!admission.ok) return refuse(res, record, ctx, admission.reason, admission.context)
    emitDecision(ctx.events, record, 'allow', record.decision?.reason ?? 'allowed')
    prepareUpstreamRequest(req, target.path, formatAuthority(target.destination, 80))
    const result = await forwarder.web(req, res, admission.address, target.destination.port)
    Object.assign(record, { bytesSent: result.sent, bytesReceived: result.received, outcome: result.outcome })
    if (result.error) throw result.error
  } catch (err) {
    refuseWithError(res, record, ctx, err)
  } finally {
    emitClose(ctx.events, record)
  }
}

/** Origin-form path, no hop-by-hop headers, and a Host header even from HTTP/1.0 clients. */
function prepareUpstreamRequest(req: IncomingMessage, path: string, authority: string): void {
  stripHopByHop(req.headers)
  req.url = path
  req.headers.host ??= authority
}

function refuse(res: ServerResponse, record: ConnectionRecord, ctx: ProxyContext, reason: ReasonCode, context: RefusalContext): void {
  emitDecision(ctx.events, record, 'deny', reason)
  record.outcome = 'refused'
  writeRefusalToResponse(res, renderRefusal(reason, context))
}

function refuseWithError(res: ServerResponse, record: ConnectionRecord, ctx: ProxyContext, err: unknown): void {
  const { reason, errorType, detail, upstream } = describeError(err)
  record.errorType = errorType
  refuse(res, record, ctx, reason, { ...(record.destination && { destination: record.destination }), ...(detail && { detail }) })
  if (upstream) record.outcome = 'upstream-error'
}
