// The run's own proxy: the same startProxy as `guarded-proxy serve`, with an
// admin listener on loopback, a discovery file (startProxy writes it, so
// `guarded-proxy approvals watch` finds the run), an audit log, and one session
// whose traffic arrives on a listener of its own (a Unix socket for the sandbox,
// loopback TCP for --no-sandbox), so no credential is handed to the agent.
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { HumanApprover } from '../policy/approval-config.js'
import { runtimeDir } from '../proxy/admin-token.js'
import { DEFAULT_LIMITS, type ListenAddress, type ServeOptions } from '../proxy/options.js'
import { startProxy, type RunningProxy } from '../proxy/start-proxy.js'
import { countDecisions, type DecisionCounts } from './run-summary.js'

/** What the run's proxy needs. */
export interface RunProxyOptions {
  /** Policy files in precedence order (resolvePolicyFiles). */
  readonly policyFiles: readonly string[]
  /** Files written for this run (the profile's hosts), loaded after the others without replacing discovery. */
  readonly overlays: readonly string[]
  readonly resolve: ReadonlyMap<string, readonly string[]>
  readonly approvers: readonly HumanApprover[]
  /** `--requirements FILE`. */
  readonly requirements?: string
  /** `--audit-log`; undefined means `<runtime dir>/runs/SESSION.jsonl`. */
  readonly auditLog?: string
  /** The session's listener: a Unix socket path, or loopback TCP (port 0) for --no-sandbox. */
  readonly sessionListener: { readonly path: string } | 'loopback'
  readonly env: NodeJS.ProcessEnv
}

/** The run's proxy, up. */
export interface RunProxy {
  readonly sessionId: string
  /** The session listener's TCP port (loopback mode only). */
  readonly port?: number
  readonly adminUrl: string
  readonly adminTokenFile: string
  readonly auditLog: string
  readonly counts: Readonly<DecisionCounts>
  /** What managed requirements forbid (`no-sandbox`, `audit-mode`). */
  readonly forbid: readonly string[]
  /** The inspection CA's certificate, when the policy inspects: the sandbox must trust it. */
  readonly caPem?: string
  /** End the session, drain briefly (the agent is gone), close every listener and the log. */
  close(): Promise<void>
}

// Once the agent has exited nothing of its is left to finish; don't make the user wait 30 s.
const RUN_DRAIN_MS = 1_000

/** Start the proxy and the run's session. */
export async function startRunProxy(opts: RunProxyOptions): Promise<RunProxy> {
  const sessionId = `run-${randomBytes(6).toString('hex')}`
  const auditLog = opts.auditLog ?? join(runtimeDir(opts.env), 'runs', `${sessionId}.jsonl`)
  mkdirSync(dirname(auditLog), { recursive: true, mode: 0o700 })
  const proxy = await startProxy(serveOptions(opts, auditLog), { env: opts.env, label: `guarded-run ${sessionId}` })
  try {
    return await openSession(proxy, sessionId, opts, auditLog)
  } catch (err) {
    await proxy.close()
    throw err
  }
}

async function openSession(proxy: RunningProxy, sessionId: string, opts: RunProxyOptions, auditLog: string): Promise<RunProxy> {
  proxy.sessions.create({ id: sessionId })
  const counts: DecisionCounts = { allowed: 0, denied: 0, parked: 0 }
  proxy.events.subscribe(countDecisions(sessionId, counts))
  const address: ListenAddress = opts.sessionListener === 'loopback' ? { host: '127.0.0.1', port: 0 } : opts.sessionListener
  const bound = await proxy.addSessionListener(address, sessionId)
  return {
    sessionId,
    ...(bound.port !== undefined && { port: bound.port }),
    adminUrl: proxy.admin.url,
    adminTokenFile: proxy.adminToken.file,
    auditLog,
    counts,
    forbid: proxy.policy().requirements?.forbid ?? [],
    ...(proxy.inspection.current() && { caPem: proxy.inspection.current()!.ca.pem }),
    async close() {
      proxy.sessions.end(sessionId)
      await proxy.close()
    },
  }
}

function serveOptions(opts: RunProxyOptions, auditLog: string): ServeOptions {
  return Object.freeze<ServeOptions>({
    policyFiles: opts.policyFiles,
    policyOverlays: opts.overlays,
    ...(opts.requirements !== undefined && { requirementsFile: opts.requirements }),
    listen: [], // only the session's own listener: nothing here accepts a stranger's connection
    admin: { host: '127.0.0.1', port: 0 },
    resolve: opts.resolve,
    sessionId: 'default',
    auth: 'required',
    audit: { path: auditLog, maxBytes: 100 * 1024 * 1024, keep: 5, bufferRecords: 10_000, onFull: 'block', redactPromptText: false },
    approval: opts.approvers.length > 0 ? { approvers: opts.approvers } : {},
    limits: { ...DEFAULT_LIMITS, drainTimeoutMs: RUN_DRAIN_MS },
  })
}
