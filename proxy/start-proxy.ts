/** Starts the proxy in-process: `guarded-proxy serve` and `guarded-run` share this one function. */
import type { Server } from 'node:http'
import { DEFAULT_APPROVAL, type ApprovalConfig } from '../policy/approval-config.js'
import { createApprovalRegistry, type ApprovalRegistry } from './approvals/create-registry.js'
import { appendDecision } from './approvals/decisions-file.js'
import { createReviewRunner } from './approvals/run-reviewer.js'
import { startWebhookApprover } from './approvals/webhook-approver.js'
import type { Policy } from '../policy/types.js'
import { loadAdminToken, runtimeDir, type AdminToken } from './admin-token.js'
import { writeDiscovery } from './approvals/discovery.js'
import type { ProxyContext } from './context.js'
import { createAdminServer, createMetricsServer } from './create-admin-server.js'
import { createProxyServer, type ProxyServer } from './create-proxy-server.js'
import { createEventBus, type EventBus } from './events.js'
import { createHttpForwarder } from './forward-http.js'
import { listen, type BoundAddress } from './listen.js'
import type { Logger } from './logger.js'
import type { ListenAddress, ServeOptions } from './options.js'
import { boundApproval } from '../policy/apply-requirements.js'
import { openPolicy } from './policy-files/policy-service.js'
import type { PolicyRoots } from './policy-files/policy-roots.js'
import type { ReloadResult } from './policy-files/policy-reloader.js'
import { localSelf } from './resolve-checked.js'
import { createResolver, type Lookup } from './resolver.js'
import { createSessionStore, type SessionStore } from './sessions.js'
import { startSinks } from './start-sinks.js'
import { startInspection, type Inspection } from './tls-inspection.js'

/** A running proxy. */
export interface RunningProxy {
  readonly listeners: readonly BoundAddress[]
  readonly admin: BoundAddress
  /** The separate `/metrics` listener, when `--metrics` asked for one. */
  readonly metrics?: BoundAddress
  readonly adminToken: AdminToken
  readonly events: EventBus
  readonly sessions: SessionStore
  readonly approvals: ApprovalRegistry
  /** The approval settings in force (policy section, overridden by the command line). */
  approvalConfig(): ApprovalConfig
  /** The policy in force now. */
  policy(): Policy
  /** TLS inspection: its CA and leaf cache once a rule needed them. */
  readonly inspection: Inspection
  /** Re-reads the policy files; on failure the last good policy stays in force and the error is returned. */
  reload(): Promise<{ ok: true; rules: number } | { ok: false; error: Error }>
  /** Reopens log files (SIGHUP, after logrotate moved them). */
  reopenLogs(): Promise<void>
  /** Loads the plain-HTTP client in the background, so the first request does not wait for it. */
  warm(): Promise<void>
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
  /** Where layered policy discovery looks (tests point it away from the real /etc and home). */
  readonly roots?: PolicyRoots
  /** Hears every policy reload that changed something or failed. */
  readonly onPolicyReload?: (result: ReloadResult) => void
}

/** Loads the policy (refusing to start on a bad one), then binds every listener. */
export async function startProxy(options: ServeOptions, deps: StartDependencies = {}): Promise<RunningProxy> {
  const opened = await openPolicy(options, deps.env ?? process.env, deps.logger, deps.roots)
  const policy = opened.ref
  // Before anything binds: a missing CA, a readable CA key or an unset credential variable stops start-up here.
  const inspection = await startInspection(policy.current, { ...(options.caDir !== undefined && { caDir: options.caDir }), ...(options.upstreamCaFile !== undefined && { upstreamCaFile: options.upstreamCaFile }), limits: options.limits }, deps.env ?? process.env)
  const adminToken = await loadAdminToken(options.adminTokenFile, deps.env ?? process.env, process.pid)
  const ports = new Set<number>()
  const events = createEventBus((err) => deps.logger?.error({ err }, 'an event sink failed'))
  const sessions = createSessionStore(options.sessionId)
  const sinks = await startSinks(options, policy.current, events, deps.env ?? process.env, deps.logger)
  // Requirements' ceilings apply last, so command-line approval flags cannot exceed them either.
  const approvalConfig = (): ApprovalConfig => boundApproval({ ...DEFAULT_APPROVAL, ...policy.current.approval, ...options.approval }, policy.current)
  const env = deps.env ?? process.env
  const runReview = createReviewRunner({ env })
  const approvals = createApprovalRegistry(approvalConfig, {
    review: (view) => {
      const reviewer = approvalConfig().reviewer
      return reviewer ? runReview(reviewer, view) : undefined
    },
    persistAlways: async (query, decision) => {
      if (!options.decisionsFile) return
      await appendDecision(options.decisionsFile, query, decision, new Date())
      const reloaded = await self.reload()
      if (!reloaded.ok) deps.logger?.error({ error: reloaded.error.message }, 'reloading after an always decision failed')
    },
  })
  sessions.onEnd((id) => approvals.endSession(id))
  approvals.subscribe(() => sinks.metrics.approvalsPending(approvals.list().length))
  let adminUrl: string | undefined // known once the admin listener is bound
  const webhook = startWebhookApprover({ registry: approvals, config: approvalConfig, env, ...(deps.logger && { logger: deps.logger }), adminUrl: () => adminUrl })
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
    inspection,
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
  const others: Server[] = [] // admin and metrics listeners, once created
  // A listener that fails to bind must not leave the ones bound before it serving a half-started proxy.
  const unwind = async (err: unknown): Promise<never> => {
    await Promise.all([...proxies.map((p) => p.server), ...others].filter((x) => x.listening).map(closeServer))
    await sinks.close()
    await adminToken.remove()
    throw err
  }
  for (const address of options.listen) listeners.push(await bind(address).catch(unwind))
  const tcp = listeners.find((l) => l.port !== undefined)
  const metricsServer = options.metricsListen && createMetricsServer(() => sinks.metrics.render())
  const adminServer = createAdminServer({ ready: () => ready, metrics: () => sinks.metrics.render(), approvers: () => approvalConfig().approvers, api: { token: adminToken, sessions, approvals, proxyUrl: () => tcp?.url ?? 'http://127.0.0.1:3128' } })
  others.push(adminServer, ...(metricsServer ? [metricsServer] : []))
  const admin = await listen(adminServer, options.admin).catch(unwind)
  if (admin.port !== undefined) ports.add(admin.port)
  if (admin.port !== undefined) adminUrl = admin.url
  const metricsBound = metricsServer && options.metricsListen ? await listen(metricsServer, options.metricsListen).catch(unwind) : undefined
  if (metricsBound?.port !== undefined) ports.add(metricsBound.port)
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
  const policyService = opened.start({
    prepare: (next) => inspection.prepare(next), // its CA and credentials must be ready before it is in force
    onReload: (result) => {
      sinks.metrics.policyReload(result.ok)
      deps.onPolicyReload?.(result)
    },
  })
  ready = true
  const self: RunningProxy = {
    listeners,
    admin,
    ...(metricsBound && { metrics: metricsBound }),
    adminToken,
    events,
    sessions,
    approvals,
    approvalConfig,
    policy: () => policy.current,
    inspection,
    async reload() {
      const result = await policyService.reload()
      return result.ok ? { ok: true, rules: result.rules } : result
    },
    addSessionListener: (address, sessionId) => bind(address, sessionId),
    reopenLogs: async () => sinks.audit?.reopen(),
    warm: () => forwarder.warm(),
    async close() {
      ready = false
      policyService.close()
      await Promise.all(proxies.map((p) => drain(p, options.limits.drainTimeoutMs)))
      forwarder.close()
      await inspection.close()
      await webhook.close()
      await closeServer(adminServer)
      if (metricsServer) await closeServer(metricsServer)
      await sinks.close()
      await adminToken.remove()
      await discovery?.remove()
    },
  }
  return self
}

/** Graceful stop: no new connections, idle keep-alives closed, busy ones cut after the timeout. */
async function drain(proxy: ProxyServer, timeoutMs: number): Promise<void> {
  const closed = closeServer(proxy.server)
  proxy.server.closeIdleConnections()
  const deadline = setTimeout(() => {
    proxy.sockets.destroyAll()
  }, timeoutMs)
  await closed
  clearTimeout(deadline)
  await proxy.settled() // every close record is emitted before the sinks are closed
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}
