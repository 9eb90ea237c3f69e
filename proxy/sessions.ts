/** Sessions: who a connection belongs to, with its credentials, its current prompt and its recent refusals. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { DecisionEvent } from './events.js'

/** Where the prompt in effect came from; prompt IDs are attribution, not authorisation. */
export type PromptSource = 'admin' | 'session' | 'header'

/** The prompt a session is working on. */
export interface Prompt {
  readonly id: string
  readonly text?: string
  readonly source: PromptSource
}

/** One session. `tokenHash` is SHA-256 of the token: the token itself is never kept. */
export interface Session {
  readonly id: string
  readonly tokenHash: Buffer
  readonly createdAt: number
  readonly expiresAt?: number
  prompt?: Prompt
  /** The last refusals, newest last, so an agent can ask why and stop retrying. */
  readonly recentRefusals: DecisionEvent[]
}

/** The public view of a session (no token material). */
export interface SessionView {
  readonly id: string
  readonly created_at: string
  readonly expires_at?: string
  readonly prompt_id?: string
}

/** All live sessions. */
export interface SessionStore {
  /** Creates a session; throws SessionError when the id is taken or malformed. */
  create(options?: { id?: string; ttlMs?: number }): { session: Session; token: string }
  get(id: string): Session | undefined
  /** The session whose id and token match, compared in constant time; undefined otherwise. */
  authenticate(id: string, token: string): Session | undefined
  list(): SessionView[]
  /** Ends a session; listeners (approvals) hear about it. Returns false when there was none. */
  end(id: string): boolean
  onEnd(listener: (id: string) => void): void
  view(session: Session): SessionView
}

/** A session request that cannot be honoured. */
export class SessionError extends Error {
  constructor(readonly code: 'GUARDED_SESSION_EXISTS' | 'GUARDED_BAD_SESSION_ID', message: string) {
    super(message)
  }
}

const SESSION_ID = /^[A-Za-z0-9._-]{1,128}$/
const RECENT_REFUSALS = 20

const hash = (token: string): Buffer => createHash('sha256').update(token).digest()

/** Creates a store holding the default session (`defaultId`), which has no token and never expires. */
export function createSessionStore(defaultId: string, now: () => number = Date.now): SessionStore {
  const sessions = new Map<string, Session>()
  const endListeners: ((id: string) => void)[] = []
  const live = (s: Session | undefined): Session | undefined => {
    if (s?.expiresAt !== undefined && s.expiresAt <= now()) {
      store.end(s.id)
      return undefined
    }
    return s
  }
  const store: SessionStore = {
    create({ id = randomBytes(9).toString('base64url'), ttlMs } = {}) {
      if (!SESSION_ID.test(id)) throw new SessionError('GUARDED_BAD_SESSION_ID', `session id ${JSON.stringify(id)} must be 1-128 of A-Z a-z 0-9 . _ -`)
      if (live(sessions.get(id))) throw new SessionError('GUARDED_SESSION_EXISTS', `session ${id} already exists`)
      const token = randomBytes(32).toString('base64url')
      const session: Session = { id, tokenHash: hash(token), createdAt: now(), ...(ttlMs && { expiresAt: now() + ttlMs }), recentRefusals: [] }
      sessions.set(id, session)
      return { session, token }
    },
    get: (id) => live(sessions.get(id)),
    authenticate(id, token) {
      const session = live(sessions.get(id))
      // Hash both sides so the comparison is constant-time and length-independent.
      const ok = session !== undefined && timingSafeEqual(session.tokenHash, hash(token)) && id !== defaultId
      return ok ? session : undefined
    },
    list: () => [...sessions.values()].filter((s) => live(s)).map((s) => store.view(s)),
    end(id) {
      if (id === defaultId || !sessions.delete(id)) return false
      endListeners.forEach((l) => l(id))
      return true
    },
    onEnd: (listener) => void endListeners.push(listener),
    view: (s) => ({
      id: s.id,
      created_at: new Date(s.createdAt).toISOString(),
      ...(s.expiresAt !== undefined && { expires_at: new Date(s.expiresAt).toISOString() }),
      ...(s.prompt && { prompt_id: s.prompt.id }),
    }),
  }
  sessions.set(defaultId, { id: defaultId, tokenHash: hash(randomBytes(32).toString('hex')), createdAt: now(), recentRefusals: [] })
  return store
}

/** Remembers a refusal on its session, keeping only the newest few. */
export function rememberRefusal(session: Session, event: DecisionEvent): void {
  session.recentRefusals.push(event)
  if (session.recentRefusals.length > RECENT_REFUSALS) session.recentRefusals.shift()
}
