import { CORES, spawnPinned, stopChild, waitForLine } from './spawn-pinned.js'
import type { Origin, Tools } from './types.js'

/** Upper bound on the origin's life: it exits by itself even if the bench is killed mid-run. */
const ORIGIN_MAX_SECONDS = 600

/** Starts the C origin on the load core and returns its two loopback ports. */
export async function startOrigin(tools: Tools): Promise<Origin> {
  const child = spawnPinned(CORES.load, tools.origin, [String(ORIGIN_MAX_SECONDS)])
  const match = await waitForLine(child, /^\{"tcp":(\d+),"http":(\d+)\}$/, 5000)
  return {
    tcpPort: Number(match[1]),
    httpPort: Number(match[2]),
    stop: () => stopChild(child),
  }
}
