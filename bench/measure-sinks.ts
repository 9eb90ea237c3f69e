/**
 * Issue 4: what recording costs. The plain-HTTP phase (32 keep-alive clients) against a fresh proxy
 * with metrics only, then against one with the audit log and OTLP spans on too.
 */
import { mkdtemp, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { measurePhase, ORIGIN_NAME, PHASE } from './measure-load.js'
import { startOtlpReceiver } from './start-otlp-receiver.js'
import { startProxy, type ProxySetup } from './start-proxy.js'
import type { Origin, PhaseResult, SinkFigures, Tools } from './types.js'

/** One plain-HTTP phase on a proxy started for it, stopped whatever happened. */
async function httpPhase(tools: Tools, origin: Origin, dir: string, setup: ProxySetup): Promise<PhaseResult> {
  const proxy = await startProxy(origin, dir, setup)
  try {
    const args = { mode: 'http', name: ORIGIN_NAME, proxyPort: proxy.port, originPort: origin.httpPort,
      seconds: PHASE.seconds, warmup: PHASE.warmup, conns: PHASE.clients } as const
    return (await measurePhase(tools, args, proxy))[1]
  } finally {
    await proxy.stop() // drains, so the audit log is complete when its size is read
  }
}

/** Bytes of every file in `dir`: the audit log and any it rotated out. */
async function bytesIn(dir: string): Promise<number> {
  const sizes = await Promise.all((await readdir(dir)).map(async name => (await stat(join(dir, name))).size))
  return sizes.reduce((a, b) => a + b, 0)
}

/** Sinks off, then on; the OTLP receiver runs in this script, on the load core, as a collector would elsewhere. */
export async function measureSinks(tools: Tools, origin: Origin, dir: string): Promise<SinkFigures> {
  const receiver = await startOtlpReceiver()
  try {
    const off = await httpPhase(tools, origin, dir, {})
    const auditDir = await mkdtemp(join(dir, 'audit-'))
    const on = await httpPhase(tools, origin, dir, { args: ['--audit-log', join(auditDir, 'audit.jsonl'), '--otlp-endpoint', receiver.url] })
    const { posts, bytes } = receiver.received()
    return { off, on, auditBytes: await bytesIn(auditDir), otlpPosts: posts, otlpBytes: bytes }
  } finally {
    await receiver.stop()
  }
}
