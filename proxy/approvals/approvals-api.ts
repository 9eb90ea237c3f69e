/** `/v1/approvals` on the admin listener: list, settle, and a live stream (Server-Sent Events) for watchers. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readJsonBody, sendJson } from '../read-json-body.js'
import type { ApprovalRegistry } from './create-registry.js'
import type { Scope } from './types.js'

const SCOPES: readonly Scope[] = ['once', 'session', 'always']

/** `GET /v1/approvals`: pending approvals and the recent decisions. */
export function listApprovals(res: ServerResponse, registry: ApprovalRegistry): void {
  sendJson(res, 200, { pending: registry.list(), recent: registry.recent() })
}

/** `POST /v1/approvals/{id}` with `{"decision":"allow"|"deny","scope":"once"|"session"|"always"}`. */
export async function settleApproval(req: IncomingMessage, res: ServerResponse, registry: ApprovalRegistry, id: string, by: string): Promise<void> {
  const body = (await readJsonBody(req)) as Record<string, unknown> | null
  const decision = body?.decision
  const scope = body?.scope ?? 'once'
  if (decision !== 'allow' && decision !== 'deny') return sendJson(res, 400, { error: '"decision" must be "allow" or "deny"' })
  if (!SCOPES.includes(scope as Scope)) return sendJson(res, 400, { error: '"scope" must be "once", "session" or "always"' })
  const settled = registry.decide(id, { decision, scope: scope as Scope, by })
  if (!settled) return sendJson(res, 404, { error: `no pending approval ${id} (already settled, or expired)` })
  sendJson(res, 200, settled)
}

/** `GET /v1/approvals/events`: the current list, then every offer and settlement as it happens. */
export function streamApprovals(req: IncomingMessage, res: ServerResponse, registry: ApprovalRegistry): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
  res.write(`event: snapshot\ndata: ${JSON.stringify({ pending: registry.list(), recent: registry.recent() })}\n\n`)
  const unsubscribe = registry.subscribe((event) => res.write(`event: ${event.type}\ndata: ${JSON.stringify(event.approval)}\n\n`))
  // A comment line every 15 s keeps intermediaries from closing an idle stream.
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000)
  req.socket.setTimeout(0)
  res.once('close', () => {
    clearInterval(ping)
    unsubscribe()
  })
}
