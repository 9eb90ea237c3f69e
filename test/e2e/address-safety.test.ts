/**
 * The second gate: an allowed name or IP literal that lands on a non-public address is refused before
 * any packet is sent. Non-loopback destinations live on `lo` inside a network namespace this test
 * creates, with an origin listening on each and the proxy started inside it too, so a bug shows up
 * as a hit on that origin and can never send a packet off the machine. The test talks to the proxy
 * over Unix sockets (paths cross network namespaces).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parseResponse, rawRequest } from '../helpers/raw-client.js'
import { CLI } from '../helpers/run-cli.js'
import { startStack } from '../helpers/start-stack.js'
import { tempDir } from '../helpers/temp-dir.js'

const IP = '/usr/sbin/ip'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Addresses put on the namespace's `lo`, each with an origin on port 80. */
const ADDRESSES = ['169.254.169.254', '10.20.0.5', '100.64.0.1', 'fd00::1', '127.0.0.1'] as const

const PINS = ['meta.test=169.254.169.254', 'inner.test=10.20.0.5', 'cgnat.test=100.64.0.1', 'ula.test=fd00::1']

/**
 * Every name and every IP literal passes the first gate (the policy), so what refuses them below is
 * the address check alone.
 */
const OPEN_POLICY = `version: 1
default: deny
allow:
  - meta.test
  - inner.test
  - cgnat.test
  - ula.test
  - "0.0.0.0/0:*"
  - "[::/0]:*"
`

const NARROW_PRIVATE = `${OPEN_POLICY}allow_private:
  - 10.20.0.0/16
`

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace'
  if (!existsSync(IP)) return `needs ${IP}`
  return undefined
}

/** A namespace with only `lo`, carrying the test addresses; deleted at teardown. */
function makeNamespace(t: Test): string {
  const ns = `guarded-test-${randomBytes(4).toString('hex')}`
  execFileSync(IP, ['netns', 'add', ns])
  t.teardown(() => {
    try {
      execFileSync(IP, ['netns', 'del', ns])
    } catch {
      /* already gone */
    }
  })
  const ip = (...args: string[]): void => void execFileSync(IP, ['-n', ns, ...args])
  ip('link', 'set', 'lo', 'up')
  for (const address of ADDRESSES) {
    if (address === '127.0.0.1') continue
    ip(...(address.includes(':') ? ['-6', 'addr', 'add', `${address}/128`] : ['addr', 'add', `${address}/32`]), 'dev', 'lo')
  }
  return ns
}

/** Runs `node ARGS` inside the namespace, collecting output; killed at teardown. */
function nodeInNs(t: Test, ns: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; err: () => string } {
  const env = { ...process.env, NODE_OPTIONS: '', ...extraEnv } // no tap coverage hooks in the namespaced children
  const child = spawn(IP, ['netns', 'exec', ns, process.execPath, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => (out += d))
  child.stderr?.on('data', (d: Buffer) => (err += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  return { child, out: () => out, err: () => err }
}

async function waitFor(read: () => string, pattern: RegExp, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${read()}`)
    await sleep(25)
  }
}

/** An HTTP origin on port 80 of every test address; prints `hit ADDRESS` for each connection it accepts. */
const ORIGIN_SCRIPT = `
const http = require('node:http')
for (const address of process.argv.slice(1)) {
  const server = http.createServer((req, res) => res.end('origin at ' + address + '\\n'))
  server.on('connection', () => console.log('hit ' + address))
  server.listen(80, address, () => console.log('listening ' + address))
}
`

interface Namespaced {
  readonly socket: string
  /** Connections each namespaced origin accepted so far. */
  hits(address: string): number
}

/** Starts the origins and one proxy (on `policy`) inside a fresh namespace. */
async function startNamespaced(t: Test, policy: string): Promise<Namespaced> {
  const ns = makeNamespace(t)
  const dir = await tempDir(t, 'guarded-netns-')
  const policyFile = join(dir, 'policy.yaml')
  await writeFile(policyFile, policy)
  const origin = nodeInNs(t, ns, ['-e', ORIGIN_SCRIPT, ...ADDRESSES])
  await waitFor(origin.out, new RegExp(`(listening .*\\n){${ADDRESSES.length}}`), 'the namespaced origins')
  const socket = join(dir, 'proxy.sock')
  const args = ['serve', '--policy', policyFile, '--listen', `unix:${socket}`, '--admin', `unix:${join(dir, 'admin.sock')}`]
  // Its admin token and discovery file go in the temp dir: a killed proxy cannot remove them itself.
  const proxy = nodeInNs(t, ns, [CLI, ...args, ...PINS.flatMap((p) => ['--resolve', p])], { XDG_RUNTIME_DIR: dir })
  await waitFor(() => proxy.out() + proxy.err(), /guarded-proxy admin on|exited|Error/, 'the namespaced proxy')
  if (!/guarded-proxy listening on unix:/.test(proxy.out())) throw new Error(`proxy did not start: ${proxy.err()}`)
  return { socket, hits: (address) => origin.out().split('\n').filter((l) => l === `hit ${address}`).length }
}

/** Sends raw bytes on the proxy's Unix socket and reads the whole answer (the proxy closes refusals). */
function ask(path: string, bytes: string): Promise<ReturnType<typeof parseResponse> & { socket: Socket }> {
  return new Promise((resolve) => {
    const socket = connect(path)
    socket.on('error', () => {})
    let raw = ''
    let timer: NodeJS.Timeout | undefined
    const done = (): void => {
      clearTimeout(timer)
      socket.removeAllListeners('data')
      resolve({ ...parseResponse(raw), socket })
    }
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1')
      clearTimeout(timer)
      timer = setTimeout(done, 300)
    })
    socket.once('close', done)
    socket.write(bytes)
  })
}

const connectTo = (path: string, authority: string): ReturnType<typeof ask> =>
  ask(path, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)
const getFrom = (path: string, host: string): ReturnType<typeof ask> =>
  ask(path, `GET http://${host}/latest/meta-data/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)

const skip = unavailable()

t.test('inside a namespace: non-public addresses are refused before a packet is sent', { skip }, async (t) => {
  const proxy = await startNamespaced(t, OPEN_POLICY)
  const refused: [string, () => ReturnType<typeof ask>, string, RegExp][] = [
    ['a name resolving to 169.254.169.254 (CONNECT)', () => connectTo(proxy.socket, 'meta.test:80'), '169.254.169.254', /link-local \(cloud metadata\)/],
    ['a name resolving to 169.254.169.254 (GET)', () => getFrom(proxy.socket, 'meta.test'), '169.254.169.254', /link-local \(cloud metadata\)/],
    ['a name resolving to 10.20.0.5', () => connectTo(proxy.socket, 'inner.test:80'), '10.20.0.5', /private \(RFC 1918\)/],
    ['a name resolving to CGNAT 100.64.0.1', () => getFrom(proxy.socket, 'cgnat.test'), '100.64.0.1', /carrier-grade NAT/],
    ['a name resolving to unique-local fd00::1', () => connectTo(proxy.socket, 'ula.test:80'), 'fd00::1', /unique-local/],
    ['the IP literal [fd00::1]:80', () => connectTo(proxy.socket, '[fd00::1]:80'), 'fd00::1', /unique-local/],
    ['the IPv4-mapped literal [::ffff:169.254.169.254]:80', () => connectTo(proxy.socket, '[::ffff:169.254.169.254]:80'), '169.254.169.254', /link-local \(cloud metadata\)/],
    ['loopback written in decimal, 2130706433:80', () => connectTo(proxy.socket, '2130706433:80'), '127.0.0.1', /loopback/],
    ['the literal 169.254.169.254 in a GET', () => getFrom(proxy.socket, '169.254.169.254'), '169.254.169.254', /link-local \(cloud metadata\)/],
  ]
  for (const [what, send, address, range] of refused) {
    const res = await send()
    res.socket.destroy()
    t.equal(res.status, 403, `${what}: 403`)
    t.equal(res.headers['x-guarded-decision'], 'private-address', `${what}: X-Guarded-Decision: private-address`)
    t.match(res.body, range, `${what}: the body names the range`)
    t.equal(proxy.hits(address), 0, `${what}: the origin on ${address} saw no connection`)
  }
  await sleep(200)
  for (const address of ADDRESSES) t.equal(proxy.hits(address), 0, `the origin on ${address} was never contacted`)
})

t.test('inside a namespace: allow_private opens exactly its range', { skip }, async (t) => {
  const proxy = await startNamespaced(t, NARROW_PRIVATE)
  const get = await getFrom(proxy.socket, 'inner.test')
  get.socket.destroy()
  t.equal(get.status, 200, '10.20.0.5 is reachable under allow_private: [10.20.0.0/16]')
  t.match(get.body, 'origin at 10.20.0.5')
  const tunnel = await connectTo(proxy.socket, 'inner.test:80')
  t.equal(tunnel.status, 200, 'and CONNECT to it is established')
  tunnel.socket.destroy()
  const meta = await connectTo(proxy.socket, 'meta.test:80')
  meta.socket.destroy()
  t.equal(meta.status, 403, 'the metadata address stays refused: allow_private is not a blanket switch')
  t.equal(meta.headers['x-guarded-decision'], 'private-address')
  const cgnat = await connectTo(proxy.socket, 'cgnat.test:80')
  cgnat.socket.destroy()
  t.equal(cgnat.status, 403, 'so does CGNAT')
  await sleep(200)
  t.ok(proxy.hits('10.20.0.5') >= 2, 'the permitted origin was reached')
  t.equal(proxy.hits('169.254.169.254'), 0)
  t.equal(proxy.hits('100.64.0.1'), 0)
})

/** An HTTP server on host:port that answers with its own address and counts connections. */
async function originAt(t: Test, host: string, port = 0): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0
  const server = createServer((_req, res) => res.end(`origin at ${host}`))
  server.on('connection', () => hits++)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  t.teardown(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))))
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits }
}

t.test('a name with several addresses: the first private one is skipped, the permitted one is used', async (t) => {
  // Loopback only: 127.0.0.1 is "private" here (outside the narrow allow_private), 127.0.0.2 is permitted.
  const good = await originAt(t, '127.0.0.2')
  const decoy = await originAt(t, '127.0.0.1', good.port)
  const s = await startStack(t, {
    policy: `version: 1\ndefault: deny\nallow:\n  - "multi.test:*"\nallow_private:\n  - 127.0.0.2/32\n`,
    lookup: async (host) => {
      if (host !== 'multi.test') throw Object.assign(new Error('unexpected lookup'), { code: 'ENOTFOUND' })
      return [
        { address: '127.0.0.1', family: 4 },
        { address: '127.0.0.2', family: 4 },
      ]
    },
  })
  const res = await rawRequest(s.port, `GET http://multi.test:${good.port}/ HTTP/1.1\r\nHost: multi.test:${good.port}\r\nConnection: close\r\n\r\n`)
  t.equal(res.status, 200)
  t.equal(res.body, 'origin at 127.0.0.2', 'the permitted address answered')
  t.equal(decoy.hits(), 0, 'the address outside allow_private was never connected to')
  t.equal(good.hits(), 1)
  t.match(s.records.last(), { 'guarded.verdict': 'allow', 'network.peer.address': '127.0.0.2' }, 'the event names the address used')
})

t.test('a name whose every address is private is refused, naming the first range', async (t) => {
  const decoy = await originAt(t, '127.0.0.1')
  const s = await startStack(t, {
    policy: `version: 1\ndefault: deny\nallow:\n  - "multi.test:*"\nallow_private:\n  - 127.0.0.2/32\n`,
    lookup: async () => [
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ],
  })
  const res = await rawRequest(s.port, `CONNECT multi.test:${decoy.port} HTTP/1.1\r\nHost: multi.test:${decoy.port}\r\n\r\n`)
  t.equal(res.status, 403)
  t.equal(res.headers['x-guarded-decision'], 'private-address')
  t.match(res.body, /127\.0\.0\.1 is loopback/)
  t.equal(decoy.hits(), 0)
  t.match(s.records.last(), { 'guarded.verdict': 'deny', 'guarded.reason': 'private-address' })
})
