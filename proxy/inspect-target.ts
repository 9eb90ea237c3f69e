/** Where a request inside an inspected tunnel goes: it must name the tunnel's own host, by a path we can match. */
import type { IncomingMessage } from 'node:http'
import { canonicalPath } from '../policy/canonical-path.js'
import type { ReasonCode } from '../policy/reasons.js'
import type { Destination } from '../policy/types.js'
import { parseHttpAuthority } from './parse-target.js'

/** The canonical path (what rules match and events carry), the path sent upstream, or a refusal with its reason. */
export type InspectTarget =
  | { readonly ok: true; readonly path: string; readonly forward: string }
  | { readonly ok: false; readonly reason: ReasonCode; readonly detail: string }

const ABSOLUTE = /^https:\/\/([^/?#]*)([^#]*)$/i

/**
 * Checks the request-target and the one Host header against the tunnel: a request for another host inside an
 * allowed host's tunnel is domain fronting, refused as `host-mismatch`. The canonical path is what goes upstream,
 * so the origin acts on exactly the path the rules matched.
 */
export function inspectTarget(req: IncomingMessage, tunnel: Destination): InspectTarget {
  let url = req.url ?? ''
  const absolute = ABSOLUTE.exec(url)
  if (absolute) {
    const named = authorityOf(absolute[1] ?? '')
    if (!named || !same(named, tunnel)) return refuse('host-mismatch', `the request URI names ${absolute[1]}, not the tunnel's ${tunnel.host}:${tunnel.port}`)
    url = absolute[2] || '/'
  }
  const hosts = hostHeaders(req.rawHeaders)
  if (hosts.length !== 1) return refuse('bad-request', `the request has ${hosts.length} Host headers; HTTP/1.1 needs exactly one`)
  const named = authorityOf(hosts[0] ?? '')
  if (!named || !same(named, tunnel)) return refuse('host-mismatch', `the Host header names ${JSON.stringify((hosts[0] ?? '').slice(0, 100))}, not the tunnel's ${tunnel.host}:${tunnel.port}`)
  const canonical = canonicalPath(url)
  if (!canonical.ok) return refuse('bad-request', `the path cannot be matched safely: ${canonical.problem}`)
  const query = url.indexOf('?')
  return { ok: true, path: canonical.path, forward: query < 0 ? canonical.path : canonical.path + url.slice(query) }
}

/** A Host header or URI authority as a destination; HTTPS's default port is 443. */
function authorityOf(authority: string): Destination | undefined {
  try {
    const parsed = parseHttpAuthority(authority)
    return /:\d+$/.test(authority) ? parsed : { ...parsed, port: 443 }
  } catch {
    return undefined
  }
}

function same(a: Destination, b: Destination): boolean {
  return a.host === b.host && a.port === b.port
}

function hostHeaders(raw: readonly string[]): string[] {
  const hosts: string[] = []
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'host') hosts.push(raw[i + 1] ?? '')
  return hosts
}

function refuse(reason: ReasonCode, detail: string): InspectTarget {
  return { ok: false, reason, detail }
}
