/** TLS test fixtures: a CA made with certs/, an HTTPS origin whose certificate it signs, and an inspecting proxy. */
import type { IncomingMessage } from 'node:http'
import { createServer } from 'node:https'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { initCa, loadCa, mintLeaf, type Ca } from '../../certs/index.js'
import type { ProxyEvent } from '../../proxy/events.js'
import type { Limits } from '../../proxy/options.js'
import { startProxy, type RunningProxy } from '../../proxy/start-proxy.js'
import { listenOn } from './origins.js'
import { collectRecords, noDns, testServeOptions } from './start-stack.js'
import { tempDir } from './temp-dir.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A CA in a fresh directory: its `ca.pem` path and PEM, and the loaded CA to sign with. */
export interface TestCa {
  readonly dir: string
  readonly certFile: string
  readonly pem: string
  readonly ca: Ca
}

/** Makes a CA with `guarded-proxy ca init`'s own code, in a directory removed at teardown. */
export async function makeCa(t: Teardown, name: string): Promise<TestCa> {
  const dir = await tempDir(t, `guarded-${name}-`)
  const info = await initCa(dir)
  return { dir, certFile: info.paths.cert, pem: info.pem, ca: await loadCa(dir) }
}

/** What an HTTPS origin saw. */
export interface TlsOrigin {
  readonly port: number
  readonly seen: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[]
  /** TLS connections the origin accepted. */
  connections(): number
}

/** Options for startTlsOrigin. */
export interface TlsOriginOptions {
  /** Hold every answer until this many requests wait at once, so a client must open that many connections. */
  readonly holdUntil?: number
}

/** An HTTPS origin on 127.0.0.1 serving `host` with a leaf its own CA signed; answers git's ref advertisement too. */
export async function startTlsOrigin(t: Teardown, ca: TestCa, host: string, options: TlsOriginOptions = {}): Promise<TlsOrigin> {
  const leaf = await mintLeaf(ca.ca, host, 'name', new Date())
  const seen: TlsOrigin['seen'] = []
  let held: (() => void)[] = []
  let connections = 0
  const server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() })
      if (/\/info\/refs\?service=git-upload-pack$/.test(req.url ?? '')) return void res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement', 'cache-control': 'no-cache' }).end(EMPTY_REPO)
      held.push(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin saw ${req.method} ${req.url}`))
      if (held.length < (options.holdUntil ?? 1)) return
      held.forEach((answer) => answer())
      held = []
    })
  })
  server.on('secureConnection', () => connections++)
  return { port: await listenOn(server as unknown as import('node:http').Server, t), seen, connections: () => connections }
}

const pkt = (line: string): string => (line.length + 4).toString(16).padStart(4, '0') + line
/** The smart-HTTP advertisement of an empty repository (gitprotocol-http(5)). */
const EMPTY_REPO = pkt('# service=git-upload-pack\n') + '0000' + pkt(`${'0'.repeat(40)} capabilities^{}\0agent=guarded-test\n`) + '0000'

/** A proxy started the way `serve --ca-dir D --upstream-ca F --audit-log L` would, with every event it emitted. */
export interface InspectingStack {
  readonly proxy: RunningProxy
  readonly url: string
  readonly port: number
  readonly events: ProxyEvent[]
  readonly auditFile: string
  audit(): Promise<string>
}

/** Options: the policy text, the proxy's own environment, pins, and the CAs. */
export interface InspectingOptions {
  readonly policy: string
  readonly caDir: string
  readonly upstreamCaFile?: string
  readonly env?: Record<string, string>
  readonly resolve?: Record<string, string>
  /** Write an audit log (default true). Tunnels still open at teardown close after it does, so leave it off where they may. */
  readonly audit?: boolean
  /** Limits over the test defaults (testServeOptions). */
  readonly limits?: Partial<Limits>
}

/** Starts the proxy on 127.0.0.1:0 with an audit log, closed at teardown. */
export async function startInspectingStack(t: Teardown, options: InspectingOptions): Promise<InspectingStack> {
  const dir = await tempDir(t, 'guarded-inspect-')
  const policyFile = join(dir, 'policy.yaml')
  const auditFile = join(dir, 'audit.jsonl')
  await writeFile(policyFile, options.policy)
  const proxy = await startProxy(
    {
      ...testServeOptions(policyFile, options.resolve),
      caDir: options.caDir,
      ...(options.upstreamCaFile && { upstreamCaFile: options.upstreamCaFile }),
      ...(options.limits && { limits: { ...testServeOptions(policyFile).limits, ...options.limits } }),
      ...(options.audit !== false && { audit: { path: auditFile, maxBytes: 0, keep: 1, bufferRecords: 1000, onFull: 'block', redactPromptText: false } }),
    },
    { env: { PATH: process.env.PATH ?? '', HOME: dir, XDG_RUNTIME_DIR: dir, ...options.env }, lookup: noDns },
  )
  t.teardown(() => proxy.close())
  const events = collectRecords(proxy.events).all
  const port = proxy.listeners[0]?.port ?? 0
  return { proxy, url: `http://127.0.0.1:${port}`, port, events, auditFile, audit: () => readFile(auditFile, 'utf8').catch(() => '') }
}
