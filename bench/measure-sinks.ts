/**
 * Issue 4: what recording costs. "Off" is a proxy with no audit log and no OTLP endpoint; its
 * Prometheus metrics stay on, because the admin listener always serves /metrics and cannot be turned
 * off. "On" adds the audit log and OTLP spans; "sampled" is "on" with one span in ten kept
 * (`OTEL_TRACES_SAMPLER=traceidratio`), what a platform team can turn down to. The proxies run side by
 * side and take the plain-HTTP load (32 keep-alive clients) in turn, round after round, so a burst of
 * other work on this small machine lands on all; each side's figure is its median round.
 */
import { mkdtemp, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { measurePhase, ORIGIN_NAME, PHASE } from './measure-load.js'
import { medianPhase } from './median-phase.js'
import { startOtlpReceiver, type OtlpReceiver } from './start-otlp-receiver.js'
import { startProxy, type GuardedProxy, type ProxySetup } from './start-proxy.js'
import type { Origin, PhaseResult, SinkFigures, Tools } from './types.js'

/** Rounds per side, and the first round's warm-up: plain HTTP takes about 10 s of load to settle (see PHASE). */
export const SINK_ROUNDS = { rounds: 5, firstWarmup: 12 } as const

/** The share of spans the sampled side keeps (`OTEL_TRACES_SAMPLER_ARG`). */
const SAMPLED_SHARE = 0.1

type Side = 'off' | 'on' | 'sampled'
const SIDES: readonly Side[] = ['off', 'on', 'sampled']

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

/** Off, on and sampled, round after round; each OTLP receiver runs in this script, on the load core, as a collector would elsewhere. */
export async function measureSinks(tools: Tools, origin: Origin, dir: string): Promise<SinkFigures> {
  const receivers: OtlpReceiver[] = []
  const proxies: GuardedProxy[] = []
  try {
    const receiver = async (): Promise<OtlpReceiver> => {
      const started = await startOtlpReceiver()
      receivers.push(started)
      return started
    }
    const [onReceiver, sampledReceiver] = [await receiver(), await receiver()]
    const auditDir = await mkdtemp(join(dir, 'audit-'))
    const started = async (setup?: ProxySetup): Promise<GuardedProxy> => {
      const proxy = await startProxy(origin, dir, setup)
      proxies.push(proxy)
      return proxy
    }
    const side: Record<Side, GuardedProxy> = {
      off: await started(),
      on: await started({ args: ['--audit-log', join(auditDir, 'audit.jsonl'), '--otlp-endpoint', onReceiver.url] }),
      sampled: await started({ args: ['--audit-log', join(await mkdtemp(join(dir, 'audit-sampled-')), 'audit.jsonl'), '--otlp-endpoint', sampledReceiver.url],
        env: { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: String(SAMPLED_SHARE) } }),
    }
    const rounds: Record<Side, PhaseResult[]> = { off: [], on: [], sampled: [] }
    for (let i = 0; i < SINK_ROUNDS.rounds; i++) {
      const warmup = i === 0 ? SINK_ROUNDS.firstWarmup : PHASE.warmup
      // Which side goes first rotates too, so none always follows another's backlog.
      for (const name of [...SIDES.slice(i % SIDES.length), ...SIDES.slice(0, i % SIDES.length)]) rounds[name].push(await round(tools, origin, side[name], warmup))
    }
    await Promise.all(proxies.splice(0).map(p => p.stop())) // drains, so the audit log is complete when its size is read
    const { posts, bytes } = onReceiver.received()
    return { off: medianPhase(rounds.off), on: medianPhase(rounds.on), sampled: medianPhase(rounds.sampled), sampledShare: SAMPLED_SHARE,
      sampledOtlpBytes: sampledReceiver.received().bytes, auditBytes: await bytesIn(auditDir), otlpPosts: posts, otlpBytes: bytes }
  } finally {
    await Promise.all(proxies.map(p => p.stop()))
    await Promise.all(receivers.map(r => r.stop()))
  }
}
