/** `/v1/` on the admin listener: sessions, prompts and approvals. Every route needs the admin token. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parseDuration } from '../policy/parse-duration.js'
import type { AdminToken } from './admin-token.js'
import { BodyError, parsePromptBody, readJsonBody, sendJson } from './read-json-body.js'
import { SessionError, type SessionStore } from './sessions.js'
import { listApprovals, settleApproval, streamApprovals } from './approvals/approvals-api.js'
import type { ApprovalRegistry } from './approvals/create-registry.js'

/** What the API needs. */
export interface AdminApiContext {
  readonly token: AdminToken
  readonly sessions: SessionStore
  readonly approvals: ApprovalRegistry
  /** The proxy URL clients should use, without credentials (e.g. http://127.0.0.1:3128). */
  proxyUrl(): string
}

/** A route: method and a path pattern whose `:id` part is captured. */
type Route = readonly [method: string, pattern: RegExp, handler: (req: IncomingMessage, res: ServerResponse, ctx: AdminApiContext, id: string) => Promise<void> | void]

const ROUTES: readonly Route[] = [
  ['POST', /^\/v1\/sessions$/, createSession],
  ['GET', /^\/v1\/sessions$/, (_req, res, ctx) => sendJson(res, 200, { sessions: ctx.sessions.list() })],
  ['DELETE', /^\/v1\/sessions\/([^/]+)$/, (_req, res, ctx, id) => (ctx.sessions.end(id) ? sendJson(res, 200, { ended: id }) : sendJson(res, 404, { error: `no session ${id}` }))],
  ['PUT', /^\/v1\/sessions\/([^/]+)\/prompt$/, setPrompt],
  ['GET', /^\/v1\/approvals$/, (_req, res, ctx) => listApprovals(res, ctx.approvals)],
  ['GET', /^\/v1\/approvals\/events$/, (req, res, ctx) => streamApprovals(req, res, ctx.approvals)],
  ['POST', /^\/v1\/approvals\/([^/]+)$/, (req, res, ctx, id) => settleApproval(req, res, ctx.approvals, id, decidedBy(req))],
]

/** `X-Guarded-Approver: cli|web` names the tool; everything else is the API itself, by token name. */
function decidedBy(req: IncomingMessage): string {
  const tool = req.headers['x-guarded-approver']
  return tool === 'cli' || tool === 'web' ? tool : 'api:admin'
}

/** Serves a `/v1/` request; returns false when the path is not an API path at all. */
export async function serveAdminApi(req: IncomingMessage, res: ServerResponse, path: string, ctx: AdminApiContext): Promise<boolean> {
  if (!path.startsWith('/v1/')) return false
  if (!ctx.token.check(req.headers.authorization)) {
    res.setHeader('www-authenticate', 'Bearer realm="guarded-admin"')
    sendJson(res, 401, { error: `the admin API needs Authorization: Bearer <token> (the token is in ${ctx.token.file})` })
    return true
  }
  for (const [method, pattern, handler] of ROUTES) {
    const match = pattern.exec(path)
    if (match && req.method === method) {
      await handle(() => handler(req, res, ctx, decodeURIComponent(match[1] ?? '')), res)
      return true
    }
  }
  sendJson(res, 404, { error: `no route ${req.method} ${path}` })
  return true
}

async function handle(run: () => Promise<void> | void, res: ServerResponse): Promise<void> {
  try {
    await run()
  } catch (err) {
    if (err instanceof BodyError || err instanceof SessionError || err instanceof URIError) return sendJson(res, err instanceof SessionError && err.code === 'GUARDED_SESSION_EXISTS' ? 409 : 400, { error: err.message })
    throw err
  }
}

async function createSession(req: IncomingMessage, res: ServerResponse, ctx: AdminApiContext): Promise<void> {
  const body = (await readJsonBody(req)) as Record<string, unknown>
  const id = body?.id
  const ttl = body?.ttl
  if (id !== undefined && typeof id !== 'string') return sendJson(res, 400, { error: '"id" must be a string' })
  const ttlMs = typeof ttl === 'string' ? parseDuration(ttl) : undefined
  if (ttl !== undefined && ttlMs === undefined) return sendJson(res, 400, { error: '"ttl" must be a duration such as "30m" or "8h"' })
  const { session, token } = ctx.sessions.create({ ...(id !== undefined && { id }), ...(ttlMs !== undefined && { ttlMs }) })
  const url = new URL(ctx.proxyUrl())
  url.username = encodeURIComponent(session.id)
  url.password = encodeURIComponent(token)
  sendJson(res, 201, { ...ctx.sessions.view(session), token, proxy_url: url.toString().replace(/\/$/, '') })
}

async function setPrompt(req: IncomingMessage, res: ServerResponse, ctx: AdminApiContext, id: string): Promise<void> {
  const session = ctx.sessions.get(id)
  if (!session) return sendJson(res, 404, { error: `no session ${id}` })
  const prompt = parsePromptBody(await readJsonBody(req))
  if (typeof prompt === 'string') return sendJson(res, 400, { error: prompt })
  session.prompt = { ...prompt, source: 'admin' }
  sendJson(res, 200, { session: id, prompt_id: prompt.id })
}
