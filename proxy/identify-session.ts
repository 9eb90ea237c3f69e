/** Which session a request belongs to: its listener's, its proxy credentials', or the default one. */
import type { IncomingHttpHeaders } from 'node:http'
import type { Session, SessionStore } from './sessions.js'

/** `required`: every request must carry valid credentials (or arrive on a session's own listener). */
export type AuthMode = 'required' | 'none'

/** The session, or a refusal that becomes a 407. */
export type Identified = { readonly ok: true; readonly session: Session } | { readonly ok: false; readonly detail: string }

/**
 * A listener bound to a session (guarded-run's per-run Unix socket) identifies it with no credential
 * in the sandbox. Otherwise `Proxy-Authorization: Basic base64(SESSION_ID:TOKEN)` (RFC 9110 §11.7.1),
 * which curl, git, pip, undici and requests send for `http://ID:TOKEN@proxy:port`.
 */
export function identifySession(headers: IncomingHttpHeaders, listenerSession: string | undefined, store: SessionStore, auth: AuthMode, defaultId: string): Identified {
  if (listenerSession !== undefined) {
    const session = store.get(listenerSession)
    return session ? { ok: true, session } : { ok: false, detail: `the session ${listenerSession} of this listener has ended` }
  }
  const credentials = parseBasic(headers['proxy-authorization'])
  if (credentials) {
    const session = store.authenticate(credentials.id, credentials.token)
    return session ? { ok: true, session } : { ok: false, detail: 'the proxy credentials are not valid (unknown session, wrong token, or the session has ended)' }
  }
  if (auth === 'required') return { ok: false, detail: 'this proxy requires credentials: use http://SESSION_ID:TOKEN@HOST:PORT as the proxy URL' }
  const session = store.get(defaultId)
  return session ? { ok: true, session } : { ok: false, detail: 'no default session' }
}

function parseBasic(header: string | undefined): { id: string; token: string } | undefined {
  if (!header) return undefined
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (!match?.[1]) return { id: '', token: '' }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return { id: '', token: '' }
  return { id: decoded.slice(0, colon), token: decoded.slice(colon + 1) }
}
