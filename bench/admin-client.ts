/** The admin calls the approvals section makes, over one kept-alive connection. */
import { readFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import type { ApprovalView } from '../proxy/approvals/types.js'

/** Lists and settles approvals on one proxy. */
export interface AdminClient {
  /** `GET /v1/approvals`: the pending approvals. */
  pending(): Promise<readonly ApprovalView[]>
  /** The `guarded_approvals_pending` gauge from `/metrics`: cheap to poll, unlike the full list. */
  pendingCount(): Promise<number>
  /** `POST /v1/approvals/{id}`, allow once; resolves with the HTTP status. */
  allowOnce(id: string): Promise<number>
  close(): void
}

/** A client for the admin API at `url`, with the bearer token read from `tokenFile`. */
export async function adminClient(url: string, tokenFile: string): Promise<AdminClient> {
  const token = (await readFile(tokenFile, 'utf8')).trim()
  // Kept alive, so a decision's time does not include a TCP handshake a long-lived approver would not make.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const call = (method: string, path: string, body?: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(new URL(path, url), { method, agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  return {
    async pending() {
      const { status, text } = await call('GET', '/v1/approvals')
      if (status !== 200) throw new Error(`GET /v1/approvals: ${status} ${text}`)
      return (JSON.parse(text) as { pending: ApprovalView[] }).pending
    },
    async pendingCount() {
      const { status, text } = await call('GET', '/metrics')
      const gauge = /^guarded_approvals_pending (\d+)$/m.exec(text)?.[1]
      if (status !== 200 || gauge === undefined) throw new Error(`GET /metrics: ${status}, no guarded_approvals_pending`)
      return Number(gauge)
    },
    async allowOnce(id) {
      return (await call('POST', `/v1/approvals/${encodeURIComponent(id)}`, JSON.stringify({ decision: 'allow', scope: 'once' }))).status
    },
    close: () => agent.destroy(),
  }
}
