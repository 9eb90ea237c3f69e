/** A small client of one proxy's `/v1/approvals` API, as the `approvals` command uses it (TCP or `unix:` admin URL). */
import { request, type IncomingMessage, type RequestOptions } from 'node:http'
import type { ApprovalView, Scope, SettledApproval } from './types.js'
import type { Verdict } from '../../policy/types.js'

/** What `GET /v1/approvals` answers. */
export interface ApprovalList {
  readonly pending: ApprovalView[]
  readonly recent: SettledApproval[]
}

/** One Server-Sent Event of `GET /v1/approvals/events`. */
export type StreamEvent = { readonly type: 'snapshot'; readonly data: ApprovalList } | { readonly type: 'offered'; readonly data: ApprovalView } | { readonly type: 'settled'; readonly data: SettledApproval }

/** The API refused or could not be reached; `message` is ready to print. */
export class AdminError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** The calls the command line makes. */
export interface AdminClient {
  list(): Promise<ApprovalList>
  decide(id: string, decision: Verdict, scope: Scope): Promise<SettledApproval>
  /** Streams events until `signal` aborts; resolves when the stream ends. */
  stream(onEvent: (event: StreamEvent) => void, signal: AbortSignal): Promise<void>
}

/** Creates a client; every request carries the token and names the CLI as the approver. */
export function createAdminClient(adminUrl: string, token: string): AdminClient {
  const base = adminUrl.startsWith('unix:') ? { socketPath: adminUrl.slice(5) } : hostOf(adminUrl)
  const headers = { authorization: `Bearer ${token}`, 'x-guarded-approver': 'cli' }
  const open = (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const options: RequestOptions = { ...base, method, path, headers: { ...headers, ...(body !== undefined && { 'content-type': 'application/json' }) }, ...(signal && { signal }) }
      const req = request(options, resolve)
      req.once('error', (err: NodeJS.ErrnoException) => reject(err.name === 'AbortError' ? err : new AdminError(`cannot reach the admin API at ${adminUrl}: ${err.code ?? err.message}`)))
      req.end(body === undefined ? undefined : JSON.stringify(body))
    })
  const json = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await open(method, path, body)
    let text = ''
    for await (const chunk of res) text += chunk
    const value = JSON.parse(text || '{}') as T & { error?: string }
    if ((res.statusCode ?? 0) >= 400) throw new AdminError(value.error ?? `the admin API answered ${res.statusCode}`, res.statusCode)
    return value
  }
  return {
    list: () => json('GET', '/v1/approvals'),
    decide: (id, decision, scope) => json('POST', `/v1/approvals/${encodeURIComponent(id)}`, { decision, scope }),
    async stream(onEvent, signal) {
      const res = await open('GET', '/v1/approvals/events', undefined, signal)
      if (res.statusCode !== 200) throw new AdminError(`the event stream answered ${res.statusCode}`, res.statusCode)
      await readEvents(res, onEvent).catch((err: Error) => {
        if (!signal.aborted) throw err
      })
    },
  }
}

/** Parses `event:`/`data:` blocks separated by blank lines (the subset of SSE the proxy writes). */
async function readEvents(res: IncomingMessage, onEvent: (event: StreamEvent) => void): Promise<void> {
  let buffer = ''
  res.setEncoding('utf8')
  for await (const chunk of res as AsyncIterable<string>) {
    buffer += chunk
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const type = /^event: (.*)$/m.exec(block)?.[1]
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
      if (type === 'snapshot' || type === 'offered' || type === 'settled') onEvent({ type, data: JSON.parse(data) } as StreamEvent)
    }
  }
}

function hostOf(adminUrl: string): RequestOptions {
  const url = new URL(adminUrl)
  return { hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80 }
}
