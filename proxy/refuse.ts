/** The one place that maps a reason to a status code, headers and a body an agent can understand. */
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { REASONS, type ReasonCode } from '../policy/reasons.js'
import type { Destination, Rule } from '../policy/types.js'

/** What the client is told: rendered once, written to a socket or a response. */
export interface Refusal {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** What a refusal is about. */
export interface RefusalContext {
  readonly destination?: Destination
  readonly rule?: Rule
  /** One more sentence: the error message, or the range a private address fell in. */
  readonly detail?: string
}

const ADVICE: Partial<Record<ReasonCode, string>> = {
  blocked: 'The policy forbids this destination. Do not retry; if the work needs it, ask the policy owner.',
  unknown: 'No rule allows this destination. Do not retry; ask the policy owner to add it to the allowlist.',
  'port-not-allowed': 'Only some ports of this host are allowed. Do not retry on this port; ask the policy owner if it is needed.',
  'approval-required': 'This destination needs an approval, and no approver is configured. Ask the policy owner to allow it.',
  'private-address': 'The destination resolves to a non-public address. Ask the policy owner to list the range under allow_private if it is intended.',
  'proxy-loop': 'Requests through the proxy to the proxy itself are refused.',
  'reserved-name': 'guarded.internal is answered by the proxy itself.',
  'auth-required': 'Use the proxy URL with your session credentials: http://SESSION_ID:TOKEN@HOST:PORT.',
  'audit-unavailable': 'The proxy is refusing new connections until its audit log catches up. Retry shortly.',
  'not-a-proxy-request': 'Configure this host as an HTTP proxy (HTTP_PROXY/HTTPS_PROXY=http://HOST:PORT): send GET http://host/path, or CONNECT host:port for HTTPS.',
}

function target(destination: Destination | undefined): string {
  if (!destination) return 'the request'
  return destination.kind === 6 ? `[${destination.host}]:${destination.port}` : `${destination.host}:${destination.port}`
}

/** Renders the refusal for a reason code; the code is the `X-Guarded-Decision` header verbatim. */
export function renderRefusal(reason: ReasonCode, context: RefusalContext = {}): Refusal {
  const { status, summary } = REASONS[reason]
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'x-guarded-decision': reason,
    'cache-control': 'no-store',
  }
  const lines = [`guarded-proxy refused ${target(context.destination)}: ${reason} (${summary})`]
  // RFC 9110 §11.7.1: a 407 names the scheme the client should answer with.
  if (reason === 'auth-required') headers['proxy-authenticate'] = 'Basic realm="guarded"'
  if (context.rule) {
    headers['x-guarded-rule'] = context.rule.pattern
    const { file, line } = context.rule.source
    lines.push(`rule: ${context.rule.pattern} (${file}:${line})`)
  }
  if (context.detail) lines.push(context.detail)
  const advice = ADVICE[reason]
  if (advice) lines.push(advice)
  const body = lines.join('\n') + '\n'
  headers['content-length'] = String(Buffer.byteLength(body))
  return { status, headers, body }
}

/** Writes a refusal as a raw HTTP/1.1 response (CONNECT, upgrades, parse errors) and closes. */
export function writeRefusalToSocket(socket: Duplex, refusal: Refusal): void {
  if (socket.destroyed || !socket.writable) return
  const head = [`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}`]
  for (const [name, value] of Object.entries(refusal.headers)) head.push(`${name}: ${value}`)
  head.push('connection: close', '', '')
  socket.end(head.join('\r\n') + refusal.body)
}

/** Writes a refusal on a plain-HTTP response; the client connection may stay alive. */
export function writeRefusalToResponse(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(refusal.status, refusal.headers)
  res.end(refusal.body)
}
