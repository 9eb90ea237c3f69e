/**
 * Inspection costs: leaf mint on first contact vs a cached leaf, the TLS handshake through the proxy for a new
 * and a known host, and requests per second through an inspected tunnel vs an opaque one. Runs in-process
 * (client, proxy and origin share the event loop), so compare the two rates with each other, not with bench/run.
 */
import { createServer } from 'node:https'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { ProxyAgent, request } from 'undici'
import { initCa, LeafCache, loadCa } from '../certs/index.js'
import { DEFAULT_LIMITS } from '../proxy/options.js'
import { startProxy } from '../proxy/start-proxy.js'
import { percentile } from './percentile.js'

/** What `measureInspection` reports; times in milliseconds. */
export interface InspectionFigures {
  /** Median mint of a leaf for a new host (sign + SecureContext), off the event loop's hot path. */
  readonly mintMedianMs: number
  /** Median `LeafCache.get` of a host already cached. */
  readonly cachedMedianMs: number
  /** Median CONNECT + TLS handshake through the proxy to a host seen for the first time (mint included). */
  readonly firstContactHandshakeMs: number
  /** Median CONNECT + TLS handshake through the proxy to a host whose leaf is cached. */
  readonly cachedHandshakeMs: number
  /** Requests per second over kept-alive inspected tunnels. */
  readonly inspectedPerS: number
  /** Requests per second over kept-alive opaque tunnels to the same origin. */
  readonly opaquePerS: number
  /** Median and 99th-percentile request time over inspected tunnels, at the same concurrency. */
  readonly inspectedP50Ms: number
  readonly inspectedP99Ms: number
  /** Median and 99th-percentile request time over opaque tunnels. */
  readonly opaqueP50Ms: number
  readonly opaqueP99Ms: number
}

/** Options; the defaults take about five seconds. */
export interface InspectionBenchOptions {
  readonly hosts?: number
  readonly durationMs?: number
  readonly concurrency?: number
}

/** Runs the whole measurement and cleans up after itself. */
export async function measureInspection(options: InspectionBenchOptions = {}): Promise<InspectionFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'guarded-bench-inspect-'))
  try {
    return await measureIn(dir, options)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function measureIn(dir: string, options: InspectionBenchOptions): Promise<InspectionFigures> {
  const hosts = options.hosts ?? 50
  const proxyCaInfo = await initCa(join(dir, 'proxy-ca'))
  const originCaInfo = await initCa(join(dir, 'origin-ca'))
  const originCa = await loadCa(join(dir, 'origin-ca'))
  const { mintMedianMs, cachedMedianMs } = await leafTimes(await loadCa(join(dir, 'proxy-ca')), hosts)
  // The origin answers for every name with a leaf of its own CA, as a real multi-host origin would.
  const originLeaves = new LeafCache(originCa)
  const origin = createServer({ SNICallback: (name, cb) => void originLeaves.get(name, 'name').then((l) => cb(null, l.context), (err: Error) => cb(err)) }, (_req, res) => res.end('ok'))
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve))
  const originPort = (origin.address() as AddressInfo).port
  const policyFile = join(dir, 'policy.yaml')
  await writeFile(policyFile, `version: 1\nallow:\n  - {host: "*.inspect.test:*", inspect: true}\n  - "plain.test:*"\nallow_private: [127.0.0.0/8]\n`)
  const proxy = await startProxy(
    { policyFiles: [policyFile], listen: [{ host: '127.0.0.1', port: 0 }], admin: { host: '127.0.0.1', port: 0 }, resolve: new Map(), sessionId: 'default', auth: 'none', limits: { ...DEFAULT_LIMITS, drainTimeoutMs: 500 }, caDir: join(dir, 'proxy-ca'), upstreamCaFile: originCaInfo.paths.cert },
    { env: { HOME: dir, XDG_RUNTIME_DIR: dir }, lookup: async () => [{ address: '127.0.0.1', family: 4 }] },
  )
  try {
    const port = proxy.listeners[0]?.port ?? 0
    const first: number[] = []
    const cached: number[] = []
    for (let i = 0; i < Math.min(hosts, 30); i++) {
      first.push(await handshake(port, `h${i}.inspect.test`, originPort, proxyCaInfo.pem))
      cached.push(await handshake(port, `h${i}.inspect.test`, originPort, proxyCaInfo.pem))
    }
    const duration = options.durationMs ?? 2_000
    const concurrency = options.concurrency ?? 8
    const inspected = await rate(proxy.listeners[0]?.url ?? '', proxyCaInfo.pem, `https://a.inspect.test:${originPort}/`, duration, concurrency)
    const opaque = await rate(proxy.listeners[0]?.url ?? '', originCaInfo.pem, `https://plain.test:${originPort}/`, duration, concurrency)
    return {
      mintMedianMs, cachedMedianMs, firstContactHandshakeMs: median(first), cachedHandshakeMs: median(cached),
      inspectedPerS: inspected.perS, opaquePerS: opaque.perS,
      inspectedP50Ms: inspected.p50Ms, inspectedP99Ms: inspected.p99Ms, opaqueP50Ms: opaque.p50Ms, opaqueP99Ms: opaque.p99Ms,
    }
  } finally {
    origin.closeAllConnections()
    origin.close()
    await proxy.close()
  }
}

async function leafTimes(ca: Awaited<ReturnType<typeof loadCa>>, hosts: number): Promise<{ mintMedianMs: number; cachedMedianMs: number }> {
  const cache = new LeafCache(ca)
  const mints: number[] = []
  const hits: number[] = []
  for (let i = 0; i < hosts; i++) {
    const start = performance.now()
    await cache.get(`m${i}.bench.test`, 'name')
    mints.push(performance.now() - start)
    const again = performance.now()
    await cache.get(`m${i}.bench.test`, 'name')
    hits.push(performance.now() - again)
  }
  return { mintMedianMs: median(mints), cachedMedianMs: median(hits) }
}

/** CONNECT, 200, and a full TLS handshake against the proxy's leaf; milliseconds. */
function handshake(proxyPort: number, host: string, port: number, ca: string): Promise<number> {
  const start = performance.now()
  return new Promise((resolve, reject) => {
    const raw = netConnect(proxyPort, '127.0.0.1', () => raw.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`))
    raw.once('error', reject)
    raw.once('data', () => {
      const tls = tlsConnect({ socket: raw, servername: host, ca }, () => {
        resolve(performance.now() - start)
        tls.destroy()
      })
      tls.once('error', reject)
    })
  })
}

/** Requests per second, and request times, with `concurrency` sequential workers over kept-alive tunnels. */
async function rate(proxyUrl: string, ca: string, url: string, durationMs: number, concurrency: number): Promise<{ perS: number; p50Ms: number; p99Ms: number }> {
  const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca }, connections: concurrency })
  const deadline = performance.now() + durationMs
  const times: number[] = []
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const sent = performance.now()
      const res = await request(url, { dispatcher })
      await res.body.dump()
      times.push(performance.now() - sent)
    }
  }
  const start = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = performance.now() - start
  await dispatcher.close()
  return { perS: Math.round((times.length / elapsed) * 1000), p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99) }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 1000) / 1000
}
