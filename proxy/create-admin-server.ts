/** The admin listener: health and readiness now; metrics and the approval API arrive with later issues. */
import { createServer, type Server } from 'node:http'

/** What the admin listener reports on. */
export interface AdminState {
  /** True once the policy is loaded and the proxy listeners are up; false again while draining. */
  ready(): boolean
}

/** `/healthz` answers while the process serves; `/readyz` only while it should receive traffic. */
export function createAdminServer(state: AdminState): Server {
  return createServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n')
    if (path === '/healthz') return reply(res, 200, 'ok\n')
    if (path === '/readyz') return state.ready() ? reply(res, 200, 'ready\n') : reply(res, 503, 'not ready\n')
    reply(res, 404, 'not found: the admin listener serves /healthz and /readyz\n')
  })
}

function reply(res: import('node:http').ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}
