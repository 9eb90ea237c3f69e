/**
 * The events suites' stack: the proxy in-process with its admin API, an optional audit log and span
 * endpoint, the events it emitted, and an admin client that talks to it as an operator would.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import type { CloseEvent, DecisionEvent, ProxyEvent } from '../../proxy/events.js'
import { DEFAULT_LIMITS, type Limits } from '../../proxy/options.js'
import type { AuditLogOptions } from '../../proxy/sinks/audit-log.js'
import { startProxy, type RunningProxy } from '../../proxy/start-proxy.js'
import { collectRecords, noDns, testServeOptions } from './start-stack.js'
import { tempDir } from './temp-dir.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A policy that allows `origin.test` (pinned to 127.0.0.1), blocks `*.blocked.test` and refuses the rest. */
export const EVENTS_POLICY = `version: 1
default: deny
allow:
  - "origin.test:*"
block:
  - "*.blocked.test"
allow_private:
  - 127.0.0.0/8
`

/** Options for `startEventsStack`. */
export interface EventsStackOptions {
  readonly policy?: string
  readonly auth?: 'required' | 'none'
  /** The session of clients without credentials (`--session-id`). */
  readonly sessionId?: string
  /** Write an audit log in the stack's directory with these settings (path defaults to `audit.jsonl`). */
  readonly audit?: Partial<AuditLogOptions>
  readonly otlpEndpoint?: string
  readonly limits?: Partial<Limits>
}

/** An answer from the admin listener. */
export interface AdminAnswer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly text: string
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly json: Record<string, unknown> | undefined
}

/** What a test gets back. */
export interface EventsStack {
  readonly proxy: RunningProxy
  readonly port: number
  readonly proxyUrl: string
  readonly adminUrl: string
  readonly token: string
  readonly dir: string
  /** The audit log path (only written when `audit` was given). */
  readonly auditFile: string
  readonly events: ProxyEvent[]
  decisions(): DecisionEvent[]
  closes(): CloseEvent[]
  /** Resolves once `n` close events were emitted in all. */
  waitForCloses(n: number, timeoutMs?: number): Promise<void>
  /** Calls the admin listener; `token: null` sends no Authorization header, a string sends that one. */
  admin(method: string, path: string, body?: string | object, token?: string | null): Promise<AdminAnswer>
  /** `POST /v1/sessions` and the proxy URL with credentials it answered. */
  createSession(body?: object): Promise<{ id: string; token: string; proxy_url: string }>
}

/** Starts the proxy on 127.0.0.1:0 (admin too) with a generated admin token in a temp runtime dir. */
export async function startEventsStack(t: Teardown, options: EventsStackOptions = {}): Promise<EventsStack> {
  const dir = await tempDir(t, 'guarded-events-')
  const policyFile = join(dir, 'policy.yaml')
  await writeFile(policyFile, options.policy ?? EVENTS_POLICY)
  const auditFile = options.audit?.path ?? join(dir, 'audit.jsonl')
  const proxy = await startProxy(
    {
      ...testServeOptions(policyFile, { 'origin.test': '127.0.0.1', 'x.blocked.test': '127.0.0.1' }),
      sessionId: options.sessionId ?? 'default',
      auth: options.auth ?? 'none',
      limits: { ...DEFAULT_LIMITS, drainTimeoutMs: 1_000, ...options.limits },
      ...(options.audit && { audit: { maxBytes: 0, keep: 0, bufferRecords: 10_000, onFull: 'block', redactPromptText: false, ...options.audit, path: auditFile } }),
      ...(options.otlpEndpoint !== undefined && { otlpEndpoint: options.otlpEndpoint }),
    },
    { env: { PATH: process.env.PATH ?? '', XDG_RUNTIME_DIR: dir, HOME: dir }, lookup: noDns },
  )
  t.teardown(() => proxy.close())
  const records = collectRecords(proxy.events)
  const token = (await readFile(proxy.adminToken.file, 'utf8')).trim()
  const port = proxy.listeners[0]?.port ?? 0
  const adminUrl = proxy.admin.url
  const stack: EventsStack = {
    proxy,
    port,
    proxyUrl: `http://127.0.0.1:${port}`,
    adminUrl,
    token,
    dir,
    auditFile,
    events: records.all,
    decisions: records.decisions,
    closes: records.closes,
    waitForCloses: async (n, timeoutMs) => void (await records.waitForCloses(n, timeoutMs)),
    admin: (method, path, body, bearer = token) => callAdmin(adminUrl, method, path, body, bearer),
    async createSession(body = {}) {
      const res = await stack.admin('POST', '/v1/sessions', body)
      if (res.status !== 201) throw new Error(`POST /v1/sessions answered ${res.status}: ${res.text}`)
      return res.json as { id: string; token: string; proxy_url: string }
    },
  }
  return stack
}

/** One admin call over real HTTP. */
export async function callAdmin(adminUrl: string, method: string, path: string, body?: string | object, bearer?: string | null): Promise<AdminAnswer> {
  const res = await request(adminUrl + path, {
    method: method as 'GET',
    headers: { ...(bearer !== null && bearer !== undefined && { authorization: `Bearer ${bearer}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  const text = await res.body.text()
  let json: Record<string, unknown> | undefined
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    json = undefined
  }
  return { status: res.statusCode, headers: res.headers, text, json }
}

/** Every line of an audit file, parsed; throws naming the line that is not JSON (a torn or garbled record). */
export async function readAuditLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : Promise.reject(err)))
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${file} does not end with a newline: the last record is torn`)
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as Record<string, unknown>
      } catch {
        throw new Error(`${file}:${i + 1} is not JSON: ${line.slice(0, 200)}`)
      }
    })
}

/** Polls the audit file until `check` accepts its lines, or fails with what it last saw. */
export async function waitForAudit(file: string, check: (lines: Record<string, unknown>[]) => boolean, what: string, timeoutMs = 5_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const lines = await readAuditLines(file)
    if (check(lines)) return lines
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} in ${file}; it has ${lines.length} lines`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
