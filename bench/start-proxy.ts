import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ORIGIN_NAME } from './measure-load.js'
import { CORES, spawnPinned, stopChild, waitForLines } from './spawn-pinned.js'
import type { Origin, ProxyUnderTest } from './types.js'

/** Where `npm run build` puts the proxy CLI, relative to dist/bench/. */
export const PROXY_CLI = fileURLToPath(new URL('../proxy/cli.js', import.meta.url))

/** True when the proxy has been built; until then the bench measures direct and Squid only. */
export function proxyBuilt(): boolean {
  return existsSync(PROXY_CLI)
}

/**
 * The bench policy: both origin ports allowed by name, everything else denied. Loopback has to be
 * allowed explicitly, or the address check would (rightly) refuse 127.0.0.1.
 */
export function benchPolicyText(origin: Origin): string {
  return [
    'version: 1',
    'default: deny',
    'allow:',
    `  - "${ORIGIN_NAME}:${origin.tcpPort}"`,
    `  - "${ORIGIN_NAME}:${origin.httpPort}"`,
    'allow_private: ["127.0.0.0/8"]',
    '',
  ].join('\n')
}

/** How a section varies the standard bench proxy: its own policy, extra flags. */
export interface ProxySetup {
  /** Policy text; the bench policy when absent. */
  readonly policyText?: string
  /** Flags after the standard ones (e.g. `--approver api`, `--audit-log FILE`). */
  readonly args?: readonly string[]
  /** Variables over the proxy's environment (e.g. `OTEL_TRACES_SAMPLER`). */
  readonly env?: NodeJS.ProcessEnv
}

/** Our proxy as a section sees it: the load-phase view, plus the admin API. */
export interface GuardedProxy extends ProxyUnderTest {
  readonly adminUrl: string
  /** The admin token file `serve` generated and printed (under the bench's temp dir). */
  readonly tokenFile: string
}

/**
 * The proxy's environment: its runtime dir (generated admin token) inside the bench's temp dir, so a run
 * leaves nothing behind, and no OTEL_* endpoint, so only `--otlp-endpoint` turns spans on.
 */
function proxyEnv(dir: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')))
  return { ...env, XDG_RUNTIME_DIR: dir }
}

/** Starts our proxy on the proxy core with the bench policy (or `setup`'s) and waits for its ready lines. */
export async function startProxy(origin: Origin, dir: string, setup: ProxySetup = {}): Promise<GuardedProxy> {
  const policy = await mkdtemp(join(dir, 'proxy-'))
  await writeFile(join(policy, 'policy.yaml'), setup.policyText ?? benchPolicyText(origin))
  const child = spawnPinned(CORES.proxy, process.execPath, [PROXY_CLI, 'serve', '--policy', join(policy, 'policy.yaml'),
    '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', `${ORIGIN_NAME}=127.0.0.1`, '--drain-timeout', '1s',
    ...(setup.args ?? [])], { ...proxyEnv(policy), ...setup.env })
  try {
    const [listening, admin, token] = await waitForLines(child, [/guarded-proxy listening on http:\/\/[^\s:]+:(\d+)/,
      /guarded-proxy admin on (http:\S+)/, /guarded-proxy admin token in (.+)$/], 15_000)
    child.stdout?.resume() // keep draining: a full stdout pipe would stall the proxy
    child.stderr?.resume()
    return { via: 'guarded', port: Number(listening![1]), pid: child.pid!, adminUrl: admin![1]!, tokenFile: token![1]!,
      stop: () => stopChild(child) }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}
