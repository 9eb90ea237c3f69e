import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { ORIGIN_NAME } from './measure-load.js'
import { treeRssBytes } from './proc-stats.js'
import { loadgenFlags, type LoadgenResult } from './run-loadgen.js'
import { CORES, stopChild, waitForLine } from './spawn-pinned.js'
import type { Origin, ProxyUnderTest, Tools } from './types.js'

/** How many idle tunnels are held open while the proxy's RSS is read. */
export const IDLE_TUNNELS = 2000

/** Time for the proxy to finish its per-tunnel work before RSS is read. */
const SETTLE_MS = 1000

/** Backstop on the loadgen's life should the bench die while it holds the tunnels. */
const HOLD_MAX_SECONDS = 60

/** Idle tunnel cost in RSS bytes, and how many of the tunnels actually opened. */
export interface IdleResult {
  readonly bytesPerTunnel: number
  readonly open: number
  readonly errors: number
  readonly firstError: string
}

/**
 * (RSS with IDLE_TUNNELS idle tunnels open − RSS before) ÷ IDLE_TUNNELS. Run on a fresh proxy,
 * before any load phase, so the tunnels cannot hide in heap that earlier load left committed.
 */
export async function measureIdle(tools: Tools, origin: Origin, proxy: ProxyUnderTest): Promise<IdleResult> {
  await sleep(SETTLE_MS)
  const before = treeRssBytes(proxy.pid)
  const flags = loadgenFlags({ mode: 'idle', originPort: origin.tcpPort, proxyPort: proxy.port, name: ORIGIN_NAME,
    seconds: HOLD_MAX_SECONDS, warmup: 0, conns: IDLE_TUNNELS })
  const child = spawn('taskset', ['-c', String(CORES.load), tools.loadgen, ...flags], { stdio: ['pipe', 'pipe', 'pipe'] })
  try {
    const [line] = await waitForLine(child, /^\{.*"mode":"idle".*\}$/, 30_000)
    const result = JSON.parse(line) as LoadgenResult
    await sleep(SETTLE_MS)
    const after = treeRssBytes(proxy.pid)
    const open = result.open ?? 0
    return { bytesPerTunnel: open ? (after - before) / open : NaN, open, errors: result.errors, firstError: result.first_error }
  } finally {
    child.stdin?.end() // loadgen closes its tunnels and exits when stdin closes
    await stopChild(child)
  }
}
