/** Starts the proxy in-process: `guarded-proxy serve` and `guarded-run` share this one function. */
import type { Server } from 'node:http'
import type { Policy } from '../policy/types.js'
import type { ProxyContext } from './context.js'
import { createAdminServer } from './create-admin-server.js'
import { createProxyServer, type ProxyServer } from './create-proxy-server.js'
import { createEventBus, type EventBus } from './events.js'
import { createHttpForwarder } from './forward-http.js'
import { listen, type BoundAddress } from './listen.js'
import type { Logger } from './logger.js'
import type { ServeOptions } from './options.js'
import { readPolicyFiles } from './read-policy-files.js'
import { localSelf } from './resolve-checked.js'
import { createResolver, type Lookup } from './resolver.js'

/** A running proxy. */
export interface RunningProxy {
  readonly listeners: readonly BoundAddress[]
  readonly admin: BoundAddress
  readonly events: EventBus
  /** The policy in force now. */
  policy(): Policy
  /** Re-reads the policy files; on failure the last good policy stays in force and the error is returned. */
  reload(): Promise<{ ok: true; rules: number } | { ok: false; error: Error }>
  /** Stops accepting, lets in-flight connections finish for up to the drain timeout, then closes. */
  close(): Promise<void>
}

/** Injected for tests: DNS lookups never leave the test's control. */
export interface StartDependencies {
  readonly lookup?: Lookup
  readonly logger?: Logger
}

/** Loads the policy (refusing to start on a bad one), then binds every listener. */
export async function startProxy(options: ServeOptions, deps: StartDependencies = {}): Promise<RunningProxy> {
  const policy = { current: await readPolicyFiles(options.policyFiles) }
  const ports = new Set<number>()
  const events = createEventBus((err) => deps.logger?.error({ err }, 'an event sink failed'))
  const ctx: ProxyContext = {
    policy,
    resolver: createResolver(options.resolve, deps.lookup),
    self: localSelf(ports),
    events,
    limits: options.limits,
    defaultSessionId: options.sessionId,
  }
  const forwarder = createHttpForwarder(options.limits)
  const proxies = options.listen.map(() => createProxyServer(ctx, forwarder))
  let ready = false
  const adminServer = createAdminServer({ ready: () => ready })
  const listeners = await Promise.all(proxies.map((p, i) => listen(p.server, options.listen[i] ?? options.listen[0]!)))
  const admin = await listen(adminServer, options.admin)
  for (const bound of [...listeners, admin]) if (bound.port !== undefined) ports.add(bound.port)
  ready = true
  return {
    listeners,
    admin,
    events,
    policy: () => policy.current,
    async reload() {
      try {
        policy.current = await readPolicyFiles(options.policyFiles)
        return { ok: true, rules: policy.current.rules.length }
      } catch (err) {
        return { ok: false, error: err as Error }
      }
    },
    async close() {
      ready = false
      await Promise.all(proxies.map((p) => drain(p, options.limits.drainTimeoutMs)))
      forwarder.close()
      await closeServer(adminServer)
    },
  }
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
