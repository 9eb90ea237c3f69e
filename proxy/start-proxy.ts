/** Starts the proxy in-process: `guarded-proxy serve` and `guarded-run` share this one function. */
import { access } from 'node:fs/promises'
import type { Server } from 'node:http'
import { DEFAULT_APPROVAL, type ApprovalConfig } from '../policy/approval-config.js'
import { createApprovalRegistry, type ApprovalRegistry } from './approvals/create-registry.js'
import { appendDecision } from './approvals/decisions-file.js'
import type { Policy } from '../policy/types.js'
import { loadAdminToken, runtimeDir, type AdminToken } from './admin-token.js'
import { writeDiscovery } from './approvals/discovery.js'
import type { ProxyContext } from './context.js'
import { createAdminServer } from './create-admin-server.js'
import { createProxyServer, type ProxyServer } from './create-proxy-server.js'
import { createEventBus, type EventBus } from './events.js'
import { createHttpForwarder } from './forward-http.js'
import { listen, type BoundAddress } from './listen.js'
import type { Logger } from './logger.js'
import type { ListenAddress, ServeOptions } from './options.js'
import { readPolicyFiles } from './read-policy-files.js'
import { localSelf } from './resolve-checked.js'
import { createResolver, type Lookup } from './resolver.js'
import { createSessionStore, type SessionStore } from './sessions.js'
import { openAuditLog } from './sinks/audit-log.js'

/** A running proxy. */
export interface RunningProxy {
  readonly listeners: readonly BoundAddress[]
  readonly admin: BoundAddress
  readonly adminToken: AdminToken
  readonly events: EventBus
  readonly sessions: SessionStore
  readonly approvals: ApprovalRegistry
  /** The policy in force now. */
  policy(): Policy
  /** Re-reads the policy files; on failure the last good policy stays in force and the error is returned. */
  reload(): Promise<{ ok: true; rules: number } | { ok: false; error: Error }>
  /** Reopens log files (SIGHUP, after logrotate moved them). */
  reopenLogs(): Promise<void>
  /** Adds a listener whose every connection belongs to `sessionId` (guarded-run's per-run Unix socket). */
  addSessionListener(address: ListenAddress, sessionId: string): Promise<BoundAddress>
  /** Stops accepting, lets in-flight connections finish for up to the drain timeout, then closes. */
  close(): Promise<void>
}

/** Injected for tests: DNS lookups never leave the test's control. */
export interface StartDependencies {
  readonly lookup?: Lookup
  readonly logger?: Logger
  readonly env?: NodeJS.ProcessEnv
  /** What `guarded-proxy approvals` shows for this proxy: `serve` unless a launcher names its run. */
  readonly label?: string
}

/** Loads the policy (refusing to start on a bad one), then binds every listener. */
export async function startProxy(options: ServeOptions, deps: StartDependencies = {}): Promise<RunningProxy> {
  const policyFiles = await withDecisions(options)
  const policy = { current: await readPolicyFiles(policyFiles) }
  const adminToken = await loadAdminToken(options.adminTokenFile, deps.env ?? process.env, process.pid)
  const ports = new Set<number>()
  const events = createEventBus((err) => deps.logger?.error({ err }, 'an event sink failed'))
  const sessions = createSessionStore(options.sessionId)
  const audit = options.audit && (await openAuditLog({ ...options.audit, ...definedOnly(policy.current.audit) }))
  if (audit) {
    events.subscribe(audit.sink)
    events.addGate(audit.gate)
  }
  const approvalConfig = (): ApprovalConfig => ({ ...DEFAULT_APPROVAL, ...policy.current.approval, ...options.approval })
  const approvals = createApprovalRegistry(approvalConfig, {
    persistAlways: async (query, decision) => {
      if (!options.decisionsFile) return
      await appendDecision(options.decisionsFile, query, decision, new Date())
      const reloaded = await self.reload()
      if (!reloaded.ok) deps.logger?.error({ error: reloaded.error.message }, 'reloading after an always decision failed')
    },
  })
  sessions.onEnd((id) => approvals.endSession(id))
  const ctx: ProxyContext = {
    policy,
    resolver: createResolver(options.resolve, deps.lookup),
    self: localSelf(ports),
    events,
    limits: options.limits,
    sessions,
    approvals,
    approvalConfig,
    auth: options.auth,
    defaultSessionId: options.sessionId,
  }
  const forwarder = createHttpForwarder(options.limits)
  const proxies: ProxyServer[] = []
  const bind = async (address: ListenAddress, sessionId?: string): Promise<BoundAddress> => {
    const proxy = createProxyServer(ctx, forwarder, sessionId === undefined ? {} : { sessionId })
    proxies.push(proxy)
    const bound = await listen(proxy.server, address)
    if (bound.port !== undefined) ports.add(bound.port)
    return bound
  }
  let ready = false
  const listeners: BoundAddress[] = []
  for (const address of options.listen) listeners.push(await bind(address))
  const tcp = listeners.find((l) => l.port !== undefined)
  const adminServer = createAdminServer({ ready: () => ready, api: { token: adminToken, sessions, approvals, proxyUrl: () => tcp?.url ?? 'http://127.0.0.1:3128' } })
  const admin = await listen(adminServer, options.admin)
  if (admin.port !== undefined) ports.add(admin.port)
  // Approvers in another terminal find this proxy by its discovery file (removed again on close);
  // a runtime directory we cannot write costs discovery only, never the proxy.
  const discovery = await writeDiscovery(runtimeDir(deps.env ?? process.env), {
    pid: process.pid,
    admin_url: admin.url,
    token_file: adminToken.file,
    proxy_urls: listeners.map((l) => l.url),
    started_at: new Date().toISOString(),
    label: deps.label ?? 'serve',
  }).catch((err: Error) => void deps.logger?.error({ error: err.message }, 'writing the discovery file failed'))
  ready = true
  const self: RunningProxy = {
    listeners,
    admin,
    adminToken,
    events,
    sessions,
    approvals,
    policy: () => policy.current,
    async reload() {
      try {
        policy.current = await readPolicyFiles(await withDecisions(options))
        return { ok: true, rules: policy.current.rules.length }
      } catch (err) {
        return { ok: false, error: err as Error }
      }
    },
    addSessionListener: (address, sessionId) => bind(address, sessionId),
    reopenLogs: async () => audit?.reopen(),
    async close() {
      ready = false
      await Promise.all(proxies.map((p) => drain(p, options.limits.drainTimeoutMs)))
      forwarder.close()
      await closeServer(adminServer)
      await audit?.close()
      await adminToken.remove()
      await discovery?.remove()
    },
  }
  return self
}

/** The policy files plus the decisions overlay just above them, when it exists. */
async function withDecisions(options: ServeOptions): Promise<readonly string[]> {
  if (!options.decisionsFile) return options.policyFiles
  const exists = await access(options.decisionsFile).then(() => true, () => false)
  return exists ? [...options.policyFiles, options.decisionsFile] : options.policyFiles
}

/** Graceful stop: no new connections, idle keep-alives closed, busy ones cut after the timeout. */
async function drain(proxy: ProxyServer, timeoutMs: number): Promise<void> {
  const closed = closeServer(proxy.server)
  proxy.server.closeIdleConnections()
  const deadline = setTimeout(() => {
    for (const socket of proxy.sockets) socket.destroy()
  }, timeoutMs)
  await closed
  clearTimeout(deadline)
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>
}
