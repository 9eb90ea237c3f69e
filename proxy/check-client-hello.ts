/**
 * Checks a tunnel's first bytes against its CONNECT target: the SNI must name the target, and a port listed in
 * `tls_ports` must open with a ClientHello. This stops SNI-based domain fronting through an allowed host; it cannot
 * see a Host header inside the encrypted stream (only inspection can).
 */
import { normalizeHost } from '../policy/normalize-host.js'
import type { Destination } from '../policy/types.js'
import type { ClientHelloResult } from './read-client-hello.js'

/** The verdict on a tunnel's opening: carry on, or refuse with a reason code and one sentence. */
export type HelloCheck = { readonly ok: true } | { readonly ok: false; readonly reason: 'sni-mismatch' | 'not-tls'; readonly detail: string }

/** What the client sent first: the parse of its bytes, how many there were, and whether it went quiet before a verdict. */
export interface FirstBytesSeen {
  readonly hello: ClientHelloResult
  readonly length: number
}

const OK: HelloCheck = Object.freeze({ ok: true })

/** Pure: decides on the first bytes; `tlsPort` says whether the port is in the policy's `tls_ports`. */
export function checkClientHello(seen: FirstBytesSeen, target: Destination, tlsPort: boolean): HelloCheck {
  const { hello } = seen
  if (hello.kind === 'hello') return checkSni(hello.sni, target)
  if (hello.kind === 'malformed') return refuse('not-tls', `the ClientHello is malformed (${hello.problem}), so its server name cannot be checked`)
  if (!tlsPort) return OK // not TLS, or silent (server-speaks-first protocols), on a port the policy does not list
  if (hello.kind === 'not-tls') return refuse('not-tls', `port ${target.port} is listed in tls_ports, and the client's first bytes are not a TLS ClientHello`)
  if (seen.length === 0) return refuse('not-tls', `port ${target.port} is listed in tls_ports, and the client sent no ClientHello in time`)
  return refuse('not-tls', `port ${target.port} is listed in tls_ports, and the client's ClientHello did not arrive in full in time`)
}

/** No SNI names no other host (IP-literal targets, old clients); a present one must normalise to the target. */
function checkSni(sni: string | undefined, target: Destination): HelloCheck {
  if (sni === undefined) return OK
  const host = normalizeHost(sni)
  if (host.ok && host.host === target.host) return OK
  const shown = JSON.stringify(sni.slice(0, 100))
  return refuse('sni-mismatch', `the TLS server name ${shown} is not the CONNECT target ${target.host}; SNI-based fronting through an allowed host is refused`)
}

function refuse(reason: 'sni-mismatch' | 'not-tls', detail: string): HelloCheck {
  return { ok: false, reason, detail }
}
