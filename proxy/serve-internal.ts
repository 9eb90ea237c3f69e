/**
 * `http://guarded.internal/v1/…`, answered by the proxy for the connection's own session: an agent can
 * name its current prompt and ask what it may reach and why it was refused, so it stops retrying.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ProxyContext } from './context.js'
import { emitDecision, type ConnectionRecord } from './record.js'
import { BodyError, parsePromptBody, readJsonBody, sendJson } from './read-json-body.js'
import type { Session } from './sessions.js'

/** Serves one request to the reserved host; it is never resolved or forwarded. */
export async function serveInternal(req: IncomingMessage, res: ServerResponse, path: string, record: ConnectionRecord, ctx: ProxyContext): Promise<void> {
  emitDecision(ctx.events, record, 'allow', 'internal')
  const session = ctx.sessions.get(record.sessionId)
  if (!session) return sendJson(res, 404, { error: 'this session has ended' })
  const route = `${req.method} ${path.split('?')[0]}`
  if (route === 'GET /v1/status') return sendJson(res, 200, status(session, ctx))
  if (route === 'PUT /v1/prompt') return setPrompt(req, res, session)
  sendJson(res, 404, { error: 'not found', routes: ['GET /v1/status', 'PUT /v1/prompt'] })
}

async function setPrompt(req: IncomingMessage, res: ServerResponse, session: Session): Promise<void> {
  try {
    const prompt = parsePromptBody(await readJsonBody(req))
    if (typeof prompt === 'string') return sendJson(res, 400, { error: prompt })
    session.prompt = { ...prompt, source: 'session' }
    sendJson(res, 200, { session: session.id, prompt_id: prompt.id })
  } catch (err) {
    if (!(err instanceof BodyError)) throw err
    sendJson(res, 400, { error: err.message })
  }
}

function status(session: Session, ctx: ProxyContext): unknown {
  const policy = ctx.policy.current
  // A large policy is summarised: an agent needs the shape, not 100,000 lines.
  const patterns = (action: 'allow' | 'block'): string[] => policy.rules.filter((r) => r.action === action).slice(0, 200).map((r) => r.pattern)
  return {
    session: session.id,
    prompt_id: session.prompt?.id ?? null,
    policy: {
      default: policy.default,
      allow: patterns('allow'),
      block: patterns('block'),
      note: 'Unknown destinations are ' + (policy.default === 'ask' ? 'held until someone approves them.' : 'refused.'),
    },
    recent_refusals: session.recentRefusals.map((e) => ({
      time: e.time,
      destination: `${e['server.address'] ?? ''}:${e['server.port'] ?? ''}`,
      reason: e['guarded.reason'],
      ...(e['guarded.rule'] && { rule: e['guarded.rule'] }),
    })),
  }
}
