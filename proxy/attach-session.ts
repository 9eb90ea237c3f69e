/** Stage: identify the session of a request and the prompt in effect when it arrived. */
import type { IncomingMessage } from 'node:http'
import type { ProxyContext } from './context.js'
import { identifySession } from './identify-session.js'
import type { ConnectionRecord } from './record.js'

/** What a listener knows about its clients: a session of its own, or none (credentials or the default). */
export interface ListenerInfo {
  readonly sessionId?: string
}

const PROMPT_HEADER = 'x-guarded-prompt-id'

/** The session id of records refused for missing or bad credentials; no real session can have it. */
export const UNAUTHENTICATED = '(unauthenticated)'

/**
 * Fills `record.sessionId` and `record.prompt`; returns a refusal detail when the request has no valid
 * session. A plain-HTTP request may name its prompt in `X-Guarded-Prompt-Id`, which is removed here so
 * it never reaches the origin.
 */
export function attachSession(record: ConnectionRecord, req: Pick<IncomingMessage, 'headers'>, listener: ListenerInfo, ctx: ProxyContext): string | undefined {
  const who = identifySession(req.headers, listener.sessionId, ctx.sessions, ctx.auth, ctx.defaultSessionId)
  // Not the default session: an unauthenticated refusal must not land in anyone's history (/v1/status).
  if (!who.ok) return void (record.sessionId = UNAUTHENTICATED), who.detail
  record.sessionId = who.session.id
  const header = req.headers[PROMPT_HEADER]
  delete req.headers[PROMPT_HEADER]
  if (typeof header === 'string' && header !== '' && record.kind !== 'connect') record.prompt = { id: header.slice(0, 200), source: 'header' }
  else if (who.session.prompt) record.prompt = who.session.prompt
  return undefined
}
