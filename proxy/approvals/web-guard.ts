/** The approver page's boundary checks: the Host it answers to, the Origin it takes writes from, and its response headers. */
import type { IncomingMessage, ServerResponse } from 'node:http'

/**
 * Sent on every `/approvals` response. No inline code may run (so an injected `<img onerror>` is inert even if
 * text ever reached `innerHTML`), nothing may frame the page (clickjacking the Allow buttons), and nothing is cached.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
})

/** Names that always mean this machine; any other name could be an attacker's, re-pointed at 127.0.0.1 (DNS rebinding). */
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * The Host header must name this listener: a loopback name or the literal address the request arrived on, with the
 * port it arrived on. A name resolved by DNS is refused, because after a rebinding attack the browser sends the
 * attacker's name here and treats the page as the attacker's origin (https://en.wikipedia.org/wiki/DNS_rebinding).
 */
export function hostAllowed(req: IncomingMessage): boolean {
  const host = req.headers.host?.toLowerCase()
  const port = req.socket.localPort
  if (host === undefined || port === undefined) return false
  const suffix = `:${port}`
  if (!host.endsWith(suffix)) return false
  const name = host.slice(0, -suffix.length)
  return LOOPBACK_NAMES.has(name) || name === literal(req.socket.localAddress)
}

/** The address as it appears in a Host header: IPv4 plain (also when mapped into IPv6), IPv6 in brackets. */
function literal(address: string | undefined): string | undefined {
  if (address === undefined) return undefined
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice('::ffff:'.length)
  return address.includes(':') ? `[${address.toLowerCase()}]` : address
}

/** The page's own origin, from a Host already checked by `hostAllowed` (the admin listener speaks plain HTTP). */
export function ownOrigin(req: IncomingMessage): string {
  return `http://${req.headers.host?.toLowerCase() ?? ''}`
}

/**
 * A state-changing request must carry `Origin` equal to the page's own origin. Browsers send it on every POST, so
 * a missing one means a non-browser client, which has the bearer-token API instead.
 */
export function originAllowed(req: IncomingMessage): boolean {
  return req.headers.origin?.toLowerCase() === ownOrigin(req)
}

/** Writes a response with the security headers and a plain-text or given body. */
export function send(res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers })
  res.end(body)
}
