/**
 * Issue 4: what recording costs. "Off" is a proxy with no audit log and no OTLP endpoint; its
 * Prometheus metrics stay on, because the admin listener always serves /metrics and cannot be turned
 * off. "On" adds the audit log and OTLP spans. Both proxies run side by side and take the plain-HTTP
 * load (32 keep-alive clients) in alternating rounds, so a burst of other work on this small machine
 * lands on both; each side's figure is its median round.
 */
import { mkdtemp, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { measurePhase, ORIGIN_NAME, PHASE } from './measure-load.js'
import { medianPhase } from './median-phase.js'
import { startOtlpReceiver } from './start-otlp-receiver.js'
import { startProxy, type GuardedProxy } from './start-proxy.js'
import type { Origin, PhaseResult, SinkFigures, Tools } from './types.js'

/** Rounds per side, and the first round's warm-up: plain HTTP takes about 10 s of load to settle (see PHASE). */
export const SINK_ROUNDS = { rounds: 5, firstWarmup: 12 } as const

/** One plain-HTTP round against `proxy`. */
async function round(tools: Tools, origin: Origin, proxy: GuardedProxy, warmup: number): Promise<PhaseResult> {
  const args = { mode: 'http', name: ORIGIN_NAME, proxyPort: proxy.port, originPort: origin.httpPort,
    seconds: PHASE.seconds, warmup, conns: PHASE.clients } as const
  return (await measurePhase(tools, args, proxy))[1]
}


/** Bytes of every file in `dir`: the audit log and any it rotated out. */
async function bytesIn(dir: string): Promise<number> {
  const sizes = await Promise.all((await readdir(dir)).map(async name => (await stat(join(dir, name))).size))
  return sizes.reduce((a, b) => a + b, 0)
}

/** Off and on, round after round; the OTLP receiver runs in this script, on the load core, as a collector would elsewhere. */
export async function measureSinks(tools: Tools, origin: Origin, dir: string): Promise<SinkFigures> {
  const receiver = await startOtlpReceiver()
  const auditDir = await mkdtemp(join(dir, 'audit-'))
  const proxies: GuardedProxy[] = []
  try {
    const off = await startProxy(origin, dir)
    proxies.push(off)
    const on = await startProxy(origin, dir, { args: ['--audit-log', join(auditDir, 'audit.jsonl'), '--otlp-endpoint', receiver.url] })
    proxies.push(on)
    const rounds: { off: PhaseResult[]; on: PhaseResult[] } = { off: [], on: [] }
    for (let i = 0; i < SINK_ROUNDS.rounds; i++) {
      const warmup = i === 0 ? SINK_ROUNDS.firstWarmup : PHASE.warmup
      // Which side goes first alternates too, so neither always follows the other's backlog.
      const order = i % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)
      for (const side of order) rounds[side].push(await round(tools, origin, side === 'off' ? off : on, warmup))
    }
    await Promise.all(proxies.splice(0).map(p => p.stop())) // drains, so the audit log is complete when its size is read
    const { posts, bytes } = receiver.received()
    return { off: medianPhase(rounds.off), on: medianPhase(rounds.on), auditBytes: await bytesIn(auditDir), otlpPosts: posts, otlpBytes: bytes }
  } finally {
    await Promise.all(proxies.map(p => p.stop()))
    await receiver.stop()
  }
}
