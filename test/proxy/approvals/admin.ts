/** Test helpers for the approval suites: the admin API of a proxy over real HTTP, polling, and parked clients. */
import { readFile } from 'node:fs/promises'
import { ProxyAgent, request } from 'undici'
import type { ApprovalView, SettledApproval } from '../../../proxy/approvals/types.js'
import { curl } from '../../helpers/clients.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The admin API of one proxy, called as an approver would (bearer token, optional X-Guarded-Approver). */
export interface Admin {
  call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, approver?: string): Promise<{ status: number; body: T }>
  pending(): Promise<ApprovalView[]>
  recent(): Promise<SettledApproval[]>
  decide(id: string, decision: 'allow' | 'deny', scope?: string, approver?: string): Promise<SettledApproval>
  /** Polls until exactly one approval for `host` is pending (with at least `waiting` parked requests). */
  waitForPending(host: string, waiting?: number, sessionId?: string): Promise<ApprovalView>
}

/** An admin client for the proxy at `adminUrl` whose token is in `tokenFile`. */
export async function adminOf(adminUrl: string, tokenFile: string): Promise<Admin> {
  const token = (await readFile(tokenFile, 'utf8')).trim()
  const admin: Admin = {
    async call<T>(method: string, path: string, body?: unknown, approver?: string) {
      const res = await request(adminUrl + path, {
        method: method as 'GET',
        headers: { authorization: `Bearer ${token}`, ...(approver && { 'x-guarded-approver': approver }), ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      })
      return { status: res.statusCode, body: (await res.body.json()) as T }
    },
    pending: async () => (await admin.call<{ pending: ApprovalView[] }>('GET', '/v1/approvals')).body.pending,
    recent: async () => (await admin.call<{ recent: SettledApproval[] }>('GET', '/v1/approvals')).body.recent,
    async decide(id, decision, scope = 'once', approver = 'cli') {
      const res = await admin.call<SettledApproval>('POST', `/v1/approvals/${id}`, { decision, scope }, approver)
      if (res.status !== 200) throw new Error(`deciding ${id} answered ${res.status}: ${JSON.stringify(res.body)}`)
      return res.body
    },
    waitForPending: (host, waiting = 1, sessionId) =>
      waitFor(async () => {
        const matches = (await admin.pending()).filter((a) => a.host === host && (sessionId === undefined || a.session_id === sessionId))
        return matches.length === 1 && matches[0]!.waiting >= waiting ? matches[0] : undefined
      }, `one approval for ${host} with ${waiting} waiting`),
  }
  return admin
}

/** Polls `check` every 20 ms until it returns a value, or fails after `timeoutMs` naming what it waited for. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** What a proxied request ended with: status, `X-Guarded-Decision`, body. */
export interface Answer {
  readonly status: number
  readonly decision: string
  readonly body: string
}

/** curl through the proxy (`tunnel`: CONNECT even for http://, as `curl -p` does); resolves when curl exits. */
export async function curlVia(proxyUrl: string, url: string, tunnel = false): Promise<Answer> {
  const result = await curl(['--proxy', proxyUrl, ...(tunnel ? ['--proxytunnel'] : []), '--write-out', '\n%{http_code} %{http_connect} %header{x-guarded-decision}', url])
  const text = result.stdout.toString()
  const cut = text.lastIndexOf('\n')
  const [code = '0', connectCode = '0', decision = ''] = text.slice(cut + 1).split(' ')
  // A refused CONNECT leaves http_code 000 and puts the proxy's status in http_connect.
  return { status: Number(code) || Number(connectCode), decision, body: text.slice(0, cut) }
}

/** An undici agent sending absolute-form requests to the proxy (so a refusal's headers reach the test). */
export function agentFor(t: Teardown, proxyUrl: string): ProxyAgent {
  const agent = new ProxyAgent({ uri: proxyUrl, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  return agent
}

/** undici GET through `agent`; `signal` lets a test walk away while it is parked. */
export async function undiciVia(agent: ProxyAgent, url: string, signal?: AbortSignal, reset = false): Promise<Answer> {
  const res = await request(url, { dispatcher: agent, reset, ...(signal && { signal }) })
  const decision = res.headers['x-guarded-decision']
  return { status: res.statusCode, decision: typeof decision === 'string' ? decision : '', body: await res.body.text() }
}
