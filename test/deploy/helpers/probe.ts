/**
 * Tiny servers and one-shot probes, run as separate `node -e` processes so each can be put in a
 * namespace and under a UID of the test's choosing.
 */
import { execFile } from 'node:child_process'
import { asUid, childEnv } from './netns.js'

/** One listener of the fake internet or of the pod's loopback. */
export interface Listen { readonly proto: 'tcp' | 'udp' | 'http'; readonly host: string; readonly port: number }

/** What a probe reports. `ms` is how long the attempt took, to tell REJECT from DROP. */
export interface ProbeResult {
  readonly ok: boolean
  readonly code?: string
  readonly status?: number
  readonly body?: string
  readonly ms: number
}

/** A probe: a TCP connect, a UDP round trip, or an HTTP request through a proxy. */
export type Probe =
  | { readonly kind: 'tcp' | 'udp'; readonly host: string; readonly port: number }
  | { readonly kind: 'get'; readonly proxy: string; readonly url: string }
  | { readonly kind: 'connect'; readonly proxy: string; readonly authority: string }

/** Listens on every entry (HTTP answers `origin <port>`, UDP echoes), then prints `ready`. */
export const SERVERS_JS = `
const net = require('node:net'), dgram = require('node:dgram'), http = require('node:http')
const specs = JSON.parse(process.argv[1])
Promise.all(specs.map(s => new Promise((resolve, reject) => {
  if (s.proto === 'udp') {
    const v6 = s.host.includes(':')
    const sock = dgram.createSocket(v6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' })
    sock.on('message', (m, r) => sock.send(m, r.port, r.address))
    sock.once('error', reject)
    return sock.bind(s.port, s.host, resolve)
  }
  const server = s.proto === 'http'
    ? http.createServer((req, res) => res.end('origin ' + s.port + ' ' + req.url))
    : net.createServer(c => { c.on('error', () => {}); c.end('service ' + s.port + '\\n') })
  server.once('error', reject)
  server.listen({ port: s.port, host: s.host, ipv6Only: true }, resolve)
}))).then(() => console.log('ready'), e => { console.error(e); process.exit(1) })
process.on('SIGTERM', () => process.exit(0))
`

const PROBE_JS = `
const net = require('node:net'), dgram = require('node:dgram'), http = require('node:http')
function attempt(p) {
  return new Promise(resolve => {
    const t0 = Date.now()
    const done = r => { clearTimeout(timer); resolve({ ms: Date.now() - t0, ...r }) }
    const fail = e => done({ ok: false, code: e.code || e.message })
    const timer = setTimeout(() => done({ ok: false, code: 'TIMEOUT' }), 3000)
    const [ph, pp] = (p.proxy || '').split(/:(?=\\d+$)/)
    if (p.kind === 'tcp') {
      const s = net.connect({ host: p.host, port: p.port }, () => { s.destroy(); done({ ok: true }) })
      s.on('error', fail)
    } else if (p.kind === 'udp') {
      const s = dgram.createSocket(p.host.includes(':') ? 'udp6' : 'udp4')
      let over = false
      const end = r => { if (over) return; over = true; s.close(); done(r) }
      s.on('error', e => end({ ok: false, code: e.code }))
      s.on('message', () => end({ ok: true }))
      s.connect(p.port, p.host, () => s.send('ping', e => e && end({ ok: false, code: e.code })))
      setTimeout(() => end({ ok: false, code: 'NO_REPLY' }), 1500)
    } else if (p.kind === 'get') {
      http.get({ host: ph, port: +pp, path: p.url, headers: { host: new URL(p.url).host } }, res => {
        let body = ''; res.on('data', d => body += d); res.on('end', () => done({ ok: true, status: res.statusCode, body }))
      }).on('error', fail)
    } else if (p.kind === 'connect') {
      http.request({ host: ph, port: +pp, method: 'CONNECT', path: p.authority })
        .on('connect', (res, sock) => { sock.destroy(); done({ ok: true, status: res.statusCode }) })
        .on('response', res => { res.resume(); done({ ok: true, status: res.statusCode }) })
        .on('error', fail).end()
    }
  })
}
;(async () => {
  const out = []
  for (const p of JSON.parse(process.argv[1])) out.push(await attempt(p))
  console.log(JSON.stringify(out))
  process.exit(0)
})()
`

/** Runs probes one after another inside `ns` as `uid`, in one process, and returns what happened to each. */
export function probeAll(ns: string, uid: number, probes: readonly Probe[]): Promise<ProbeResult[]> {
  const argv = ['netns', 'exec', ns, ...asUid(uid), process.execPath, '-e', PROBE_JS, JSON.stringify(probes)]
  return new Promise((resolve, reject) => {
    execFile('ip', argv, { encoding: 'utf8', timeout: 60_000, env: childEnv() }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`probe failed to run: ${err.message}\n${stderr}`))
      resolve(JSON.parse(stdout.trim()) as ProbeResult[])
    })
  })
}

/** Runs one probe inside `ns` as `uid`. */
export async function probe(ns: string, uid: number, p: Probe): Promise<ProbeResult> {
  const [result] = await probeAll(ns, uid, [p])
  if (result === undefined) throw new Error('probe returned nothing')
  return result
}
