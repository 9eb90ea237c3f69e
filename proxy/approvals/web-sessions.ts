/** Signed-in browsers of the approver page: an HttpOnly cookie names the session, a per-session CSRF token guards writes. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/** One signed-in browser. */
export interface WebSession {
  /** Sent back by the page's script in `X-Guarded-CSRF` on every write; never in a cookie, so a forged request lacks it. */
  readonly csrf: string
  readonly expiresAt: number
  /** Called when the session ends (sign-out, expiry, eviction), so open event streams close with it. */
  readonly onEnd: Set<() => void>
}

/** The store, keyed by the SHA-256 of the cookie value (the value itself is not kept). */
export interface WebSessions {
  /** Starts a session; returns the cookie value to set. */
  create(): { cookie: string; session: WebSession }
  /** The live session named by the request's cookie, if any. */
  fromRequest(req: IncomingMessage): { key: string; session: WebSession } | undefined
  end(key: string): void
  /** Whether the request's `X-Guarded-CSRF` header matches the session's token (compared in constant time). */
  csrfMatches(req: IncomingMessage, session: WebSession): boolean
  /** The cookie's name; it carries the port because browsers share cookies across ports of one host. */
  readonly cookieName: (port: number | undefined) => string
}

/** Options for `createWebSessions`. */
export interface WebSessionOptions {
  /** How long a sign-in lasts [12 h: a working day, after which the admin token is asked for again]. */
  readonly ttlMs?: number
  /** Signed-in browsers at most; the oldest is signed out beyond it [32]. */
  readonly max?: number
  readonly now?: () => number
}

const hash = (value: string): string => createHash('sha256').update(value).digest('base64url')

/** Creates an empty store. */
export function createWebSessions(options: WebSessionOptions = {}): WebSessions {
  const ttlMs = options.ttlMs ?? 12 * 60 * 60 * 1000
  const max = options.max ?? 32
  const now = options.now ?? Date.now
  const sessions = new Map<string, WebSession>()
  const cookieName = (port: number | undefined): string => `guarded_approver_${port ?? 0}`
  const end = (key: string): void => {
    const session = sessions.get(key)
    if (!session) return
    sessions.delete(key)
    session.onEnd.forEach((fn) => fn())
  }
  return {
    cookieName,
    end,
    create() {
      const cookie = randomBytes(32).toString('base64url')
      const session: WebSession = { csrf: randomBytes(32).toString('base64url'), expiresAt: now() + ttlMs, onEnd: new Set() }
      sessions.set(hash(cookie), session)
      // Maps iterate in insertion order, so the first key is the oldest sign-in.
      for (const key of sessions.keys()) if (sessions.size > max) end(key)
      return { cookie, session }
    },
    fromRequest(req) {
      const value = readCookie(req.headers.cookie, cookieName(req.socket.localPort))
      if (value === undefined) return undefined
      const key = hash(value)
      const session = sessions.get(key)
      if (!session) return undefined
      if (session.expiresAt <= now()) return void end(key)
      return { key, session }
    },
    csrfMatches(req, session) {
      const header = req.headers['x-guarded-csrf']
      if (typeof header !== 'string') return false
      return timingSafeEqual(Buffer.from(hash(header)), Buffer.from(hash(session.csrf)))
    },
  }
}

/** The value of cookie `name` in a Cookie header. */
function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
