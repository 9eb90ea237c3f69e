/** One helper that starts the proxy in-process on a policy and hands back the events it emitted. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_LIMITS, type Limits, type ServeOptions } from '../../proxy/options.js'
import type { ProxyEvent, DecisionEvent, CloseEvent, EventBus } from '../../proxy/events.js'
import { startProxy, type RunningProxy } from '../../proxy/start-proxy.js'
import type { Lookup } from '../../proxy/resolver.js'
import type { Logger } from '../../proxy/logger.js'
import { tempDir } from './temp-dir.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The events one proxy emitted, in order. */
export interface Records {
  readonly all: ProxyEvent[]
  decisions(): DecisionEvent[]
  closes(): CloseEvent[]
  last(): DecisionEvent | undefined
  /** Resolves once `n` close events have been emitted (each connection or request closes exactly once). */
  waitForCloses(n: number, timeoutMs?: number): Promise<CloseEvent[]>
}

/** What a test gets back. */
export interface Stack {
  readonly proxy: RunningProxy
  readonly port: number
  readonly url: string
  readonly records: Records
  readonly policyFile: string
}

/** Options for `startStack`. */
export interface StackOptions {
  /** Policy YAML text. */
  readonly policy: string
  /** `--resolve` pins: name → address. */
  readonly resolve?: Record<string, string>
  readonly limits?: Partial<Limits>
  /** Replaces DNS for names that are not pinned; the default fails every lookup (tests never use real DNS). */
  readonly lookup?: Lookup
  readonly auth?: 'required' | 'none'
  /** Approval settings, as `--approver` and `--approval-timeout` give them. */
  readonly approval?: ServeOptions['approval']
  /** Extra environment for the proxy (e.g. a webhook secret), on top of the test process's own. */
  readonly env?: Record<string, string>
  /** The proxy's operational logger; the default logs nothing. */
  readonly logger?: Logger
  /** `serve --decisions FILE`: where `always` decisions are kept (a policy overlay). */
  readonly decisionsFile?: string
}

/** Writes the policy to a temp file, starts the proxy on 127.0.0.1:0 and collects its events. */
export async function startStack(t: Teardown, options: StackOptions): Promise<Stack> {
  const dir = await tempDir(t, 'guarded-test-')
  const policyFile = join(dir, 'policy.yaml')
  await writeFile(policyFile, options.policy)
  const proxy = await startProxy(
    {
      ...testServeOptions(policyFile, options.resolve),
      auth: options.auth ?? 'none',
      ...(options.approval && { approval: options.approval }),
      limits: { ...DEFAULT_LIMITS, drainTimeoutMs: 1_000, ...options.limits },
      ...(options.decisionsFile !== undefined && { decisionsFile: options.decisionsFile }),
    },
    { env: { ...process.env, ...options.env, XDG_RUNTIME_DIR: dir }, ...(options.logger && { logger: options.logger }), lookup: options.lookup ?? noDns },
  )
  t.teardown(() => proxy.close())
  const records = collectRecords(proxy.events)
  const port = proxy.listeners[0]?.port ?? 0
  return { proxy, port, url: `http://127.0.0.1:${port}`, records, policyFile }
}

/** What every test proxy shares: one policy file, loopback listeners on free ports, names pinned to addresses, a short drain. */
export function testServeOptions(policyFile: string, resolve: Readonly<Record<string, string>> = {}): ServeOptions {
  return {
    policyFiles: [policyFile],
    listen: [{ host: '127.0.0.1', port: 0 }],
    admin: { host: '127.0.0.1', port: 0 },
    resolve: new Map(Object.entries(resolve).map(([name, address]) => [name, [address]])),
    sessionId: 'default',
    auth: 'none',
    limits: { ...DEFAULT_LIMITS, drainTimeoutMs: 1_000 },
  }
}

/** A lookup that fails every name: tests pin their names with `resolve` and never use real DNS. */
export const noDns: Lookup = async () => Promise.reject(Object.assign(new Error('no DNS in tests'), { code: 'ENOTFOUND' }))

/** Collects every event a proxy emits, in order, with filters and a wait for close records. */
export function collectRecords(bus: EventBus): Records {
  const all: ProxyEvent[] = []
  const waiters = new Set<() => void>()
  bus.subscribe((e) => {
    all.push(e)
    waiters.forEach((w) => w())
  })
  const closes = (): CloseEvent[] => all.filter((e): e is CloseEvent => e.type === 'close')
  const decisions = (): DecisionEvent[] => all.filter((e): e is DecisionEvent => e.type === 'decision')
  return {
    all,
    decisions,
    closes,
    last: () => decisions().at(-1),
    waitForCloses: (n, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (closes().length < n) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(closes())
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`expected ${n} close events, saw ${closes().length}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
  }
}
