/** The admin listener: health, readiness, `/metrics`, and the token-protected `/v1/` API. */
import { createServer, Server, type IncomingMessage, type ServerResponse } from 'node:http'
import { serveAdminApi, type AdminApiContext } from './admin-api.js'
import { createWebPage, type WebPage } from './approvals/web-page.js'

/** What the admin listener reports on and serves. */
export interface AdminState {
  /** True once the policy is loaded and the proxy listeners are up; false again while draining. */
  ready(): boolean
  readonly api: AdminApiContext
  /** Prometheus exposition, when metrics are on. */
  metrics?(): Promise<{ contentType: string; body: string }>
  /** The human approvers in force; the `/approvals` page is served while `web` is among them. */
  approvers?(): readonly string[]
}

/** `/healthz` answers while the process serves; `/readyz` only while it should receive traffic. */
export function createAdminServer(state: AdminState): Server {
  const web = createWebPage({ token: state.api.token, approvals: state.api.approvals, enabled: () => state.approvers?.().includes('web') ?? false })
  return new AdminServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, (req, res) => {
    route(req, res, state, web).catch(() => {
      if (!res.headersSent) reply(res, 500, 'internal error\n')
      else res.destroy()
    })
  })
}

/**
 * `close()` also cuts open connections: event streams (an approver tab, `cli watch`) never end by themselves, and a
 * plain `close()` waits for them, so SIGTERM with the approver page open would never finish.
 */
class AdminServer extends Server {
  override close(callback?: (err?: Error) => void): this {
    super.close(callback)
    this.closeAllConnections()
    return this
  }
}

async function route(req: IncomingMessage, res: ServerResponse, state: AdminState, web: WebPage): Promise<void> {
  const path = (req.url ?? '').split('?')[0] ?? ''
  if (await web(req, res, path)) return
  if (await serveAdminApi(req, res, path, state.api)) return
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n')
  if (path === '/healthz') return reply(res, 200, 'ok\n')
  if (path === '/readyz') return state.ready() ? reply(res, 200, 'ready\n') : reply(res, 503, 'not ready\n')
  if (path === '/metrics' && state.metrics) {
    const { contentType, body } = await state.metrics()
    return reply(res, 200, body, contentType)
  }
  reply(res, 404, 'not found: the admin listener serves /healthz, /readyz, /metrics and /v1/ (with the admin token)\n')
}

function reply(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}

/** A listener that serves only `/metrics` (and `/healthz`), for a Service and Prometheus to reach while admin stays on loopback. */
export function createMetricsServer(render: () => Promise<{ contentType: string; body: string }>): Server {
  return createServer({ headersTimeout: 5_000, requestTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n')
    if (path === '/healthz') return reply(res, 200, 'ok\n')
    if (path !== '/metrics') return reply(res, 404, 'not found: this listener serves /metrics\n')
    render().then(
      ({ contentType, body }) => reply(res, 200, body, contentType),
      () => reply(res, 500, 'metrics unavailable\n'),
    )
  })
}
