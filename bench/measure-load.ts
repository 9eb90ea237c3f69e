import { runLoadgen, type LoadgenArgs, type LoadgenResult } from './run-loadgen.js'
import { treeCpuSeconds, watchCore } from './proc-stats.js'
import { medianPhase } from './median-phase.js'
import { percentile } from './percentile.js'
import { CORES } from './spawn-pinned.js'
import type { LoadFigures, Origin, PhaseResult, ProxyUnderTest, Tools } from './types.js'

/** The name every proxy is asked for; each maps it to 127.0.0.1 (`--resolve`, Squid's hosts_file). */
export const ORIGIN_NAME = 'origin.bench.test'

/**
 * Length of each phase. Every round measures all three phases on every path, one path after the
 * other, and each figure is the median of the rounds: background load on a shared machine then
 * lands on all paths alike instead of on whichever ran during it. Before the first round each proxy
 * carries `jitWarmup` seconds of unrecorded load, so what is measured is a running proxy, not V8
 * compiling it (Squid needs none). Measured second by second from a fresh start, our CONNECT and
 * plain-HTTP rates climb for up to 10 s; with 6 s of warm-up the first of three rounds often ran
 * below the other two and decided the median. Hence 12 s of warm-up, then five rounds, so that one
 * slow round, first or not, does not set the figure.
 */
export const PHASE = { seconds: 3, warmup: 1, clients: 32, rounds: 5, jitWarmup: 12 } as const

/** Runs one phase, charging the proxy's CPU time over the phase to it. */
export async function measurePhase(tools: Tools, args: LoadgenArgs, proxy?: ProxyUnderTest): Promise<[LoadgenResult, PhaseResult]> {
  const cpuBefore = proxy ? treeCpuSeconds(proxy.pid) : 0
  const started = performance.now()
  const proxyCore = watchCore(CORES.proxy)
  const result = await runLoadgen(tools, args)
  const coreBusy = proxyCore()
  const wall = (performance.now() - started) / 1000
  const value = result.mb_per_s ?? result.per_s ?? 0
  const measured = { value, errors: result.errors, firstError: result.first_error, coreBusy, reconnects: result.reconnects ?? 0 }
  return [result, proxy ? { ...measured, proxyCpu: (treeCpuSeconds(proxy.pid) - cpuBefore) / wall } : measured]
}

/** Tunnel throughput, CONNECT rate and latency, and plain-HTTP rate, direct or through `proxy`. */
export async function measureLoad(tools: Tools, origin: Origin, proxy?: ProxyUnderTest): Promise<LoadFigures> {
  const base = { name: ORIGIN_NAME, proxyPort: proxy?.port ?? 0, seconds: PHASE.seconds, warmup: PHASE.warmup }
  const [, tunnel] = await measurePhase(tools, { ...base, mode: 'tunnel', originPort: origin.tcpPort, conns: 1 }, proxy)
  const [raw, connect] = await measurePhase(tools, { ...base, mode: 'connect', originPort: origin.tcpPort, conns: PHASE.clients }, proxy)
  const [, http] = await measurePhase(tools, { ...base, mode: 'http', originPort: origin.httpPort, conns: PHASE.clients }, proxy)
  return {
    tunnelMBps: tunnel,
    connectPerS: { ...connect, p50us: raw.p50_us ?? 0, p99us: raw.p99_us ?? 0 },
    httpPerS: http,
  }
}

/** Unrecorded load (CONNECT, then plain HTTP) that brings a freshly started proxy to steady state. */
export async function warmUp(tools: Tools, origin: Origin, proxy: ProxyUnderTest): Promise<void> {
  const base = { name: ORIGIN_NAME, proxyPort: proxy.port, seconds: PHASE.jitWarmup / 2, warmup: 0, conns: PHASE.clients }
  await runLoadgen(tools, { ...base, mode: 'connect', originPort: origin.tcpPort })
  await runLoadgen(tools, { ...base, mode: 'http', originPort: origin.httpPort })
}

/** Each figure's median over the rounds; a CONNECT phase's latencies are medians of the rounds' latencies. */
export function medianOfRounds(rounds: readonly LoadFigures[]): LoadFigures {
  const [first] = rounds
  if (!first) throw new Error('no rounds to take a median of')
  const connect = rounds.map(r => r.connectPerS)
  return {
    tunnelMBps: medianPhase(rounds.map(r => r.tunnelMBps)),
    connectPerS: { ...medianPhase(connect), p50us: percentile(connect.map(c => c.p50us), 0.5), p99us: percentile(connect.map(c => c.p99us), 0.5) },
    httpPerS: medianPhase(rounds.map(r => r.httpPerS)),
    ...(first.idleBytesPerTunnel !== undefined && { idleBytesPerTunnel: first.idleBytesPerTunnel }),
  }
}
