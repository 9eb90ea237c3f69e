/** A plain-HTTP proxy request (`GET http://host/path`), classified on its own even on a kept-alive connection. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { admit } from './admit.js'
import { clientGone } from './client-gone.js'
import { attachSession, type ListenerInfo } from './attach-session.js'
import { checkProtocol } from './check-protocol.js'
import { checkPlainRequest } from './inspect-plain-request.js'
import type { ProxyContext } from './context.js'
import type { HttpForwarder } from './forward-http.js'
import { stripHopByHop } from './hop-by-hop.js'
import { serveInternal } from './serve-internal.js'
import { formatAuthority, parseHttpTarget, RESERVED_HOST } from './parse-target.js'
import { emitClose, emitDecision, openRecord } from './record.js'
import { refuseRecord, refuseRecordWithError, toResponse } from './refuse-record.js'

/** Serves one absolute-form request. */
export async function handleRequest(req: IncomingMessage, res: ServerResponse, ctx: ProxyContext, forwarder: HttpForwarder, listener: ListenerInfo): Promise<void> {
  const record = openRecord('http', req.socket.remoteAddress ?? '', ctx.defaultSessionId)
  record.method = req.method ?? ''
  const refuseWith = toResponse(res)
  try {
    checkProtocol(req)
    const target = parseHttpTarget(req.url ?? '', req.rawHeaders)
    record.destination = target.destination
    const unidentified = attachSession(record, req, listener, ctx)
    if (unidentified) return refuseRecord(refuseWith, record, ctx, 'auth-required', { detail: unidentified })
    record.traceParent = traceParent(req)
    if (target.destination.host === RESERVED_HOST) return await serveInternal(req, res, target.path, record, ctx)
    const admission = await admit(record, ctx, clientGone(res))
    if (!admission.ok) return refuseRecord(refuseWith, record, ctx, admission.reason, admission.context)
    const request = checkPlainRequest(ctx.policy.current, target.destination, req, target.path, record)
    if (!request.ok) return refuseRecord(refuseWith, record, ctx, request.reason, request.context)
    emitDecision(ctx.events, record, 'allow', record.decision?.reason ?? 'allowed')
    prepareUpstreamRequest(req, res, request.path, formatAuthority(target.destination, 80))
    const result = await forwarder.web(req, res, admission.address, target.destination.port)
    Object.assign(record, { bytesSent: result.sent, bytesReceived: result.received, outcome: result.outcome })
    if (result.error) throw result.error
  } catch (err) {
    refuseRecordWithError(refuseWith, record, ctx, err)
  } finally {
    emitClose(ctx.events, record)
  }
}

/** Origin-form path, no hop-by-hop headers, and a Host header even from HTTP/1.0 clients. */
function prepareUpstreamRequest(req: IncomingMessage, res: ServerResponse, path: string, authority: string): void {
  // The proxy invites the body itself once admitted (RFC 9110 §10.1.1); the origin need not wait for it.
  if (req.headers.expect?.toLowerCase() === '100-continue') {
    delete req.headers.expect
    res.writeContinue()
  }
  stripHopByHop(req.headers)
  req.url = path
  req.headers.host ??= authority
}

/** A W3C trace context header the agent's harness sent, kept so our span can join its trace. */
function traceParent(req: IncomingMessage): string | undefined {
  const value = req.headers.traceparent
  return typeof value === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(value) ? value : undefined
}
