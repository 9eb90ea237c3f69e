import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ORIGIN_NAME } from './measure-load.js'
import { CORES, spawnPinned, stopChild, waitForLine } from './spawn-pinned.js'
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

/** Starts our proxy on the proxy core with the bench policy and waits for its ready line. */
export async function startProxy(origin: Origin, dir: string): Promise<ProxyUnderTest> {
  const policy = join(dir, 'guarded-bench.yaml')
  await writeFile(policy, benchPolicyText(origin))
  const child = spawnPinned(CORES.proxy, process.execPath, [PROXY_CLI, 'serve', '--policy', policy,
    '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', `${ORIGIN_NAME}=127.0.0.1`])
  try {
    const match = await waitForLine(child, /guarded-proxy listening on http:\/\/[^\s:]+:(\d+)/, 15_000)
    child.stdout?.resume() // keep draining: a full stdout pipe would stall the proxy
    child.stderr?.resume()
    return { via: 'guarded', port: Number(match[1]), pid: child.pid!, stop: () => stopChild(child) }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}
