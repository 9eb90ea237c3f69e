/** CONNECT tunnels end to end: real clients, hostile targets over raw sockets, and the records each one leaves. */
import { createServer as createTcpServer, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { REASONS } from '../../policy/reasons.js'
import { watchedCount } from '../../proxy/deadline.js'
import type { CloseEvent } from '../../proxy/events.js'
import type { Lookup } from '../../proxy/resolver.js'
import { closedPort, curl, openTunnel, readAll, readBytes } from '../helpers/clients.js'
import { listenOn, startEchoOrigin, startHttpOrigin, startSilentOrigin } from '../helpers/origins.js'
import { openSocket, rawRequest } from '../helpers/raw-client.js'
import { startStack } from '../helpers/start-stack.js'
import { parseProm, sample } from './sinks/prom-text.js'

/** The policy most tests run: origin.test on any port, a narrow host, the paste-site block, loopback allowed. */
function policy(options: { default?: 'ask' | 'deny'; allowPrivate?: boolean; allow?: string[] } = {}): string {
  return [
    'version: 1',
    `default: ${options.default ?? 'ask'}`,
    'allow:',
    '  - "origin.test:*"',
    '  - narrow.test:443',
    '  - "127.0.0.0/8:*"',
    ...(options.allow ?? []).map((rule) => `  - "${rule}"`),
    'block:',
    '  - "*.pastebin.com"',
    ...(options.allowPrivate === false ? [] : ['allow_private:', '  - 127.0.0.0/8']),
    '',
  ].join('\n')
}

/** Every X-Guarded-Decision value a response in this suite carried. */
const decisionsSeen = new Set<string>()

/** openTunnel, remembering the decision header the proxy answered with. */
async function tunnelTo(...args: Parameters<typeof openTunnel>): ReturnType<typeof openTunnel> {
  const tunnel = await openTunnel(...args)
  const decision = tunnel.response.headers['x-guarded-decision']
  if (decision !== undefined) decisionsSeen.add(decision)
  return tunnel
}

const PINS = { 'origin.test': '127.0.0.1', 'narrow.test': '127.0.0.1', 'evil.pastebin.com': '127.0.0.1', 'unknown.test': '127.0.0.1' }

/** A lookup that records every name it is asked and fails it (the names under test are pinned or must never be resolved). */
function recordingLookup(): { lookup: Lookup; asked: string[] } {
  const asked: string[] = []
  const lookup: Lookup = async (host) => {
    asked.push(host)
    throw Object.assign(new Error('no DNS in tests'), { code: 'ENOTFOUND' })
  }
  return { lookup, asked }
}

t.test('curl -p -x tunnels to an allowed HTTP origin, and the records say so', async (t) => {
  const origin = await startHttpOrigin(t)
  const { url, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const res = await curl(['-p', '-x', url, origin.url('/via-curl', 'origin.test')])
  t.equal(res.code, 0, res.stderr)
  t.equal(res.stdout.toString(), 'origin saw GET /via-curl 0')
  t.equal(origin.seen.length, 1)
  t.equal(origin.seen[0]?.url, '/via-curl', 'the origin got the request through the tunnel')
  const [close] = await records.waitForCloses(1)
  t.equal(records.decisions().length, 1, 'one decision')
  t.match(records.last(), {
    'record.kind': 'connect',
    'http.request.method': 'CONNECT',
    'server.address': 'origin.test',
    'server.port': origin.port,
    'network.peer.address': '127.0.0.1',
    'client.address': '127.0.0.1',
    'guarded.classification': 'allowed',
    'guarded.verdict': 'allow',
    'guarded.reason': 'allowed',
    'guarded.rule': 'origin.test:*',
  })
  t.match(close, { 'record.kind': 'connect', 'record.id': records.last()?.['record.id'] })
  t.ok(close && close['guarded.bytes.sent'] > 0 && close['guarded.bytes.received'] > 0, 'the tunnel counted bytes both ways')
})

t.test('undici ProxyAgent tunnels to an allowed HTTP origin', async (t) => {
  const origin = await startHttpOrigin(t)
  const { url, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const agent = new ProxyAgent(url)
  t.teardown(() => agent.destroy())
  const res = await request(origin.url('/via-undici', 'origin.test'), { dispatcher: agent })
  t.equal(res.statusCode, 200)
  t.equal(await res.body.text(), 'origin saw GET /via-undici 0')
  t.match(records.last(), { 'record.kind': 'connect', 'server.address': 'origin.test', 'guarded.verdict': 'allow', 'guarded.reason': 'allowed' })
  await agent.close()
  const [close] = await records.waitForCloses(1)
  t.match(close, { 'record.kind': 'connect', 'guarded.outcome': /completed|client-closed/ })
})

t.test('a blocked host is refused with 403, the rule, and how to ask for access', async (t) => {
  const echo = await startEchoOrigin(t)
  const { lookup, asked } = recordingLookup()
  const { port, records, policyFile } = await startStack(t, { policy: policy(), resolve: {}, lookup })
  const { response } = await tunnelTo(t, port, `evil.pastebin.com:${echo.port}`)
  t.equal(response.status, 403)
  t.equal(response.headers['x-guarded-decision'], 'blocked')
  t.equal(response.headers['x-guarded-rule'], '*.pastebin.com')
  t.match(response.body, /refused evil\.pastebin\.com:\d+: blocked/)
  t.match(response.body, `rule: *.pastebin.com (${policyFile}:8)`, 'the body names the rule and where it is written')
  t.match(response.body, /ask the policy owner/, 'the body says how to get access')
  t.equal(Number(response.headers['content-length']), Buffer.byteLength(response.body), 'the body is exactly as long as announced')
  t.match(records.last(), { 'server.address': 'evil.pastebin.com', 'guarded.classification': 'blocked', 'guarded.verdict': 'deny', 'guarded.reason': 'blocked', 'guarded.rule': '*.pastebin.com' })
  t.match(await records.waitForCloses(1), [{ 'guarded.outcome': 'refused' }])
  t.same(asked, [], 'a blocked name is never resolved')
  t.equal(echo.connections, 0)
})

t.test('curl sees the refusal of a blocked host as a failed tunnel', async (t) => {
  const { url, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const res = await curl(['-p', '-x', url, 'http://evil.pastebin.com/'])
  t.equal(res.code, 56, 'curl: CONNECT tunnel failed')
  t.match(res.stderr, /403/)
  t.match(records.last(), { 'guarded.reason': 'blocked' })
})

t.test('an unknown host under default: ask is approval-required (no approver is configured)', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy({ default: 'ask' }), resolve: PINS })
  const { response } = await tunnelTo(t, port, `unknown.test:${echo.port}`)
  t.equal(response.status, 403)
  t.equal(response.headers['x-guarded-decision'], 'approval-required')
  t.notOk(response.headers['x-guarded-rule'], 'no rule matched')
  t.match(response.body, /approval/)
  t.match(records.last(), { 'guarded.classification': 'unknown', 'guarded.verdict': 'deny', 'guarded.reason': 'approval-required' })
  t.equal(echo.connections, 0)
})

t.test('an unknown host under default: deny is unknown', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy({ default: 'deny' }), resolve: PINS })
  const { response } = await tunnelTo(t, port, `unknown.test:${echo.port}`)
  t.equal(response.status, 403)
  t.equal(response.headers['x-guarded-decision'], 'unknown')
  t.match(response.body, /allowlist/)
  t.match(records.last(), { 'guarded.classification': 'unknown', 'guarded.verdict': 'deny', 'guarded.reason': 'unknown' })
  t.equal(echo.connections, 0)
})

t.test('an allowed name on a port its rule does not cover is port-not-allowed', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy({ default: 'deny' }), resolve: PINS })
  const { response } = await tunnelTo(t, port, `narrow.test:${echo.port}`)
  t.equal(response.status, 403)
  t.equal(response.headers['x-guarded-decision'], 'port-not-allowed')
  t.equal(response.headers['x-guarded-rule'], 'narrow.test:443', 'the rule that allows the host on other ports')
  t.match(records.last(), { 'server.address': 'narrow.test', 'server.port': echo.port, 'guarded.verdict': 'deny', 'guarded.reason': 'port-not-allowed' })
  t.equal(echo.connections, 0)
})

t.test('an allowed name that resolves to loopback is private-address without allow_private, and nothing is connected', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy({ allowPrivate: false }), resolve: PINS })
  const { response } = await tunnelTo(t, port, `origin.test:${echo.port}`)
  t.equal(response.status, 403)
  t.equal(response.headers['x-guarded-decision'], 'private-address')
  t.match(response.body, /127\.0\.0\.1 is loopback/, 'the body names the address and its range')
  t.match(response.body, /allow_private/, 'and how to allow it')
  t.match(records.last(), { 'server.address': 'origin.test', 'guarded.classification': 'allowed', 'guarded.verdict': 'deny', 'guarded.reason': 'private-address' })
  await sleep(50)
  t.equal(echo.connections, 0, 'no connection reached the origin')
})

t.test('IP literals in any notation are checked as the address they mean', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy({ allowPrivate: false }), resolve: PINS })
  for (const literal of ['127.0.0.1', '127.1', '2130706433', '0x7f.1', '0177.0.0.1', '[::ffff:127.0.0.1]']) {
    const { response } = await tunnelTo(t, port, `${literal}:${echo.port}`)
    t.equal(response.headers['x-guarded-decision'], 'private-address', literal)
  }
  t.match(records.decisions(), Array(6).fill({ 'guarded.reason': 'private-address' }))
  t.equal(records.decisions()[1]?.['server.address'], '127.0.0.1', 'records show the canonical address')
  t.equal(echo.connections, 0)
})

t.test('CONNECT to the proxy itself or its admin port through an allowed name is proxy-loop', async (t) => {
  const { port, proxy, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const admin = proxy.admin.port ?? 0
  for (const target of [`origin.test:${port}`, `origin.test:${admin}`, `127.1:${port}`, `[::ffff:127.0.0.1]:${admin}`]) {
    const { response } = await tunnelTo(t, port, target)
    t.equal(response.status, 403, target)
    t.equal(response.headers['x-guarded-decision'], 'proxy-loop', target)
  }
  t.match(records.decisions(), Array(4).fill({ 'guarded.verdict': 'deny', 'guarded.reason': 'proxy-loop' }))
  await records.waitForCloses(4)
})

t.test('guarded.internal is reserved-name and never resolved, whatever the policy says', async (t) => {
  const { lookup, asked } = recordingLookup()
  const { port, records } = await startStack(t, { policy: policy({ allow: ['guarded.internal:*'] }), resolve: {}, lookup })
  for (const target of ['guarded.internal:443', 'GUARDED.Internal.:80']) {
    const { response } = await tunnelTo(t, port, target)
    t.equal(response.status, 403, target)
    t.equal(response.headers['x-guarded-decision'], 'reserved-name', target)
  }
  t.match(records.decisions(), [
    { 'server.address': 'guarded.internal', 'guarded.reason': 'reserved-name' },
    { 'server.address': 'guarded.internal', 'guarded.reason': 'reserved-name' },
  ])
  t.same(asked, [], 'the name was never looked up')
})

t.test('an allowed upstream whose port is closed is 502 upstream-unreachable', async (t) => {
  const dead = await closedPort()
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const { response } = await tunnelTo(t, port, `origin.test:${dead}`)
  t.equal(response.status, 502)
  t.equal(response.headers['x-guarded-decision'], 'upstream-unreachable')
  t.match(response.body, /ECONNREFUSED/)
  t.equal(records.decisions().length, 1, 'one decision: the policy allowed it')
  t.match(records.last(), { 'guarded.verdict': 'allow', 'guarded.reason': 'allowed' })
  t.match(await records.waitForCloses(1), [{ 'guarded.outcome': 'upstream-error', 'error.type': 'GUARDED_UPSTREAM_UNREACHABLE' }])
})

t.test('an allowed upstream that never answers the SYN is 504 upstream-timeout once the connect timeout runs out', async (t) => {
  const silent = await startSilentOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS, limits: { connectTimeoutMs: 300 } })
  const started = performance.now()
  const { response } = await tunnelTo(t, port, `origin.test:${silent}`)
  const took = performance.now() - started
  t.equal(response.status, 504)
  t.equal(response.headers['x-guarded-decision'], 'upstream-timeout')
  t.match(response.body, `connecting to 127.0.0.1:${silent} took longer than 300 ms`)
  t.ok(took >= 300 && took < 300 + 500, `not before the limit, nor long after it (${took.toFixed(0)} ms)`)
  t.match(records.decisions(), [{ 'guarded.verdict': 'allow', 'guarded.reason': 'allowed' }], 'one decision: the policy allowed it')
  t.match(await records.waitForCloses(1), [{ 'guarded.outcome': 'upstream-error', 'error.type': 'GUARDED_UPSTREAM_TIMEOUT' }])
})

t.test('an allowed name that does not resolve is 502 upstream-unresolvable', async (t) => {
  const { lookup, asked } = recordingLookup()
  const { port, records } = await startStack(t, { policy: policy(), resolve: {}, lookup })
  const { response } = await tunnelTo(t, port, 'origin.test:443')
  t.equal(response.status, 502)
  t.equal(response.headers['x-guarded-decision'], 'upstream-unresolvable')
  t.same(asked, ['origin.test'], 'only the allowed, normalised name is resolved')
  t.match(records.last(), { 'guarded.reason': 'upstream-unresolvable' })
  t.match(await records.waitForCloses(1), [{ 'guarded.outcome': 'upstream-error', 'error.type': 'GUARDED_UPSTREAM_UNRESOLVABLE' }])
})

t.test('a client that goes away while its name is being resolved: nothing is connected, and the tunnel is recorded at once', async (t) => {
  const echo = await startEchoOrigin(t)
  let answer: (() => void) | undefined
  const asked: string[] = []
  const lookup: Lookup = async (host) => {
    asked.push(host)
    await new Promise<void>((resolve) => (answer = resolve))
    return [{ address: '127.0.0.1', family: 4 }]
  }
  const { port, records } = await startStack(t, { policy: policy(), resolve: {}, lookup })
  const socket = await openSocket(port)
  socket.write(`CONNECT origin.test:${echo.port} HTTP/1.1\r\nHost: origin.test\r\n\r\n`)
  for (let i = 0; i < 200 && asked.length === 0; i++) await sleep(10)
  t.same(asked, ['origin.test'], 'the lookup is under way')
  socket.resetAndDestroy() // gone for good: a reset, not a half-close (which would still get its tunnel)
  await sleep(50)
  answer?.()
  const [close] = await records.waitForCloses(1, 2_000)
  t.match(records.decisions(), [{ 'guarded.verdict': 'allow', 'network.peer.address': '127.0.0.1' }], 'the policy allowed it')
  t.match(close, { 'guarded.outcome': 'upstream-error', 'error.type': 'GUARDED_UPSTREAM_UNREACHABLE' })
  await sleep(50)
  t.equal(echo.connections, 0, 'no connection was opened for a client that is gone')
})

t.test('malformed CONNECT targets are 400 bad-request and reach nothing', async (t) => {
  const echo = await startEchoOrigin(t)
  const { lookup, asked } = recordingLookup()
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS, lookup })
  const p = echo.port
  const rows: readonly (readonly [string, string])[] = [
    ['origin.test', 'no port'],
    ['origin.test:0', 'port 0'],
    ['origin.test:65536', 'port out of range'],
    [`origin.test:+${p}`, 'signed port'],
    [`origin.test:0${p}`, 'leading zero'],
    ['origin.test:', 'empty port'],
    [`:${p}`, 'no host'],
    [`u@origin.test:${p}`, 'userinfo'],
    [`origin.test@127.0.0.1:${p}`, 'userinfo hiding another host'],
    [`origin%2etest:${p}`, 'percent-encoding'],
    [`origin.test\\:${p}`, 'backslash'],
    [`[::1]${p}`, 'no colon after the IPv6 literal'],
    ['[::1]', 'IPv6 without port'],
    [`[::1:${p}`, 'unclosed bracket'],
    [`::ffff:127.0.0.1:${p}`, 'unbracketed IPv6'],
    [`[origin.test]:${p}`, 'brackets around a name'],
    [`origin.test:${p}:${p}`, 'two ports'],
    [`http://origin.test:${p}/`, 'a URL instead of an authority'],
    ['/', 'origin-form'],
    [`origin.test:${p}\u0000`, 'a NUL in the request line'],
  ]
  for (const [target, why] of rows) {
    const res = await rawRequest(port, `CONNECT ${target} HTTP/1.1\r\nHost: origin.test\r\n\r\n`)
    decisionsSeen.add(res.headers['x-guarded-decision'] ?? '(none)')
    t.equal(res.status, 400, `${why}: 400`)
    t.equal(res.headers['x-guarded-decision'], 'bad-request', `${why}: bad-request`)
  }
  t.equal(records.decisions().length, rows.length, 'one decision per request')
  t.ok(records.decisions().every((d) => d['guarded.verdict'] === 'deny' && d['guarded.reason'] === 'bad-request'), 'each denied as bad-request')
  await records.waitForCloses(rows.length)
  t.equal(echo.connections, 0, 'nothing reached the origin')
  t.same(asked, [], 'nothing was resolved')
})

t.test('data pipelined with the CONNECT head reaches the origin', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const early = 'sent in the same write as the CONNECT head\n'
  const tunnel = await tunnelTo(t, port, `origin.test:${echo.port}`, early)
  t.equal(tunnel.response.status, 200)
  t.equal(tunnel.response.raw, 'HTTP/1.1 200 Connection established\r\n\r\n', 'nothing of the client data leaks into the response head')
  const echoed = await readBytes(tunnel.socket, Buffer.byteLength(early), tunnel.rest)
  t.equal(echoed.toString(), early)
  tunnel.socket.end()
  const [close] = await records.waitForCloses(1)
  t.match(close, { 'guarded.bytes.sent': Buffer.byteLength(early), 'guarded.bytes.received': Buffer.byteLength(early) })
})

t.test('bytes in the close record match what was sent and received', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const head = Buffer.alloc(100, 'h')
  const tunnel = await tunnelTo(t, port, `origin.test:${echo.port}`, head)
  const body = Buffer.alloc(1024 * 1024 + 7, 'b')
  tunnel.socket.write(body)
  const echoed = await readBytes(tunnel.socket, head.length + body.length, tunnel.rest)
  t.equal(echoed.length, head.length + body.length, 'everything came back')
  tunnel.socket.end()
  await readAll(tunnel.socket)
  const [close] = await records.waitForCloses(1)
  t.equal(close?.['guarded.bytes.sent'], head.length + body.length, 'bytes sent to the origin')
  t.equal(close?.['guarded.bytes.received'], head.length + body.length, 'bytes received from the origin')
  t.equal(close?.['guarded.outcome'], 'client-closed', 'the client ended the tunnel')
})

t.test('concurrent downloads arrive intact, slow readers included: no tunnel sees another tunnel\'s bytes', async (t) => {
  // The proxy reads upstream bytes into buffers it reuses (forward-reads.ts); a reuse while a write is still
  // queued, or a read landing in another tunnel's buffer, would corrupt what a client receives.
  const { createServer } = await import('node:net')
  const { createHash, randomBytes } = await import('node:crypto')
  const { listenOn } = await import('../helpers/origins.js')
  const payloads = Array.from({ length: 6 }, (_, i) => randomBytes(8 * 1024 * 1024 + 300_000 + i * 4099))
  const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')
  // The origin sends each payload fast in large writes, then trickles the rest in small ones: the proxy's
  // reads come full and partial, and the trickle reaches slow clients while their buffers are already full.
  const origin = createServer((socket) => {
    socket.once('data', async (which) => {
      const payload = payloads[which[0]!]!
      for (let at = 0, step = 1; at < payload.length; step++) {
        const size = at < 8 * 1024 * 1024 ? 1024 * 1024 : [1, 700, 5_000, 1_400][step % 4]!
        if (!socket.write(payload.subarray(at, (at += size)))) await new Promise((resolve) => socket.once('drain', resolve))
        if (step % 10 === 0) await sleep(1)
      }
      socket.end()
    })
  })
  const originPort = await listenOn(origin, t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const received = await Promise.all(payloads.map(async (_, i) => {
    const tunnel = await tunnelTo(t, port, `origin.test:${originPort}`, Buffer.from([i]))
    if (i % 2 === 1) return readAll(tunnel.socket, tunnel.rest)
    const chunks: Buffer[] = [tunnel.rest] // a slow reader: the proxy's writes to it queue, and its reads must wait
    await sleep(300) // the socket is paused: the kernel buffers between proxy and client fill up first
    for await (const chunk of tunnel.socket) {
      chunks.push(chunk as Buffer)
      if (chunks.length % 8 === 0) await sleep(2)
    }
    return Buffer.concat(chunks)
  }))
  received.forEach((bytes, i) => t.equal(digest(bytes), digest(payloads[i]!), `tunnel ${i} (${i % 2 ? 'fast' : 'slow'} reader) got its payload byte for byte`))
  const closes = await records.waitForCloses(payloads.length)
  t.same(closes.map((close) => close['guarded.bytes.received']).sort(), payloads.map((p) => p.length + 0).sort(), 'each close record counts its download')
})

t.test('an upload to an origin that stops reading is held back at the client, not buffered in the proxy', async (t) => {
  const { createServer } = await import('node:net')
  const { createHash } = await import('node:crypto')
  const { listenOn } = await import('../helpers/origins.js')
  const TOTAL = 128 * 1024 * 1024
  const block = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff
  // The origin reads nothing until told to: every byte the client gets rid of meanwhile sits in kernel
  // buffers (tens of MB at most on loopback) or, if the proxy ignored back-pressure, in the proxy's memory.
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  let uploaded: (got: { bytes: number; sha: string }) => void = () => {}
  const upload = new Promise<{ bytes: number; sha: string }>((resolve) => (uploaded = resolve))
  const origin = createServer((socket) => {
    socket.pause()
    const hash = createHash('sha256')
    let bytes = 0
    void released.then(() => {
      socket.on('data', (chunk: Buffer) => ((bytes += chunk.length), hash.update(chunk)))
      socket.once('end', () => (socket.end(), uploaded({ bytes, sha: hash.digest('hex') })))
      socket.resume()
    })
  })
  const originPort = await listenOn(origin, t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const tunnel = await tunnelTo(t, port, `origin.test:${originPort}`)
  const expected = createHash('sha256')
  let accepted = 0
  const writeAll = async (): Promise<void> => {
    while (accepted < TOTAL) {
      expected.update(block)
      accepted += block.length
      if (!tunnel.socket.write(block)) await new Promise((resolve) => tunnel.socket.once('drain', resolve))
    }
    tunnel.socket.end()
  }
  const writing = writeAll()
  // Wait until the client has made no progress for a whole second: the chain of buffers is full.
  for (let last = -1; last !== accepted; ) {
    last = accepted
    await sleep(1000)
  }
  t.ok(accepted < TOTAL / 2, `the client is held back at ${(accepted / 2 ** 20).toFixed(0)} MiB of ${TOTAL / 2 ** 20} MiB`)
  release()
  await writing
  const got = await upload
  t.same(got, { bytes: TOTAL, sha: expected.digest('hex') }, 'once the origin reads again, the whole upload arrives intact')
  const [close] = await records.waitForCloses(1)
  t.equal(close?.['guarded.bytes.sent'], TOTAL, 'the close record counts the upload')
})

t.test('a CONNECT head the fast reader leaves to Node\'s parser tunnels the same: split across writes, after a request, or unusual', async (t) => {
  // read-connect-head.ts takes a complete, canonical head from the first read; these go through node:http.
  const { openSocket, readUntilQuiet } = await import('../helpers/raw-client.js')
  const echo = await startEchoOrigin(t)
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const target = `origin.test:${echo.port}`
  const through = async (socket: Awaited<ReturnType<typeof openSocket>>, what: string): Promise<void> => {
    const answer = await readBytes(socket, 'HTTP/1.1 200 Connection established\r\n\r\n'.length)
    t.equal(answer.toString('latin1').split('\r\n')[0], 'HTTP/1.1 200 Connection established', `${what}: tunnel established`)
    socket.write('ping\n')
    t.equal((await readBytes(socket, 5)).toString(), 'ping\n', `${what}: bytes go through`)
    socket.destroy()
  }
  const split = await openSocket(port)
  split.write(`CONNECT ${target} HTTP/1.1\r\nHo`)
  await sleep(50)
  split.write(`st: ${target}\r\n\r\n`)
  await through(split, 'a head split across two writes')

  const folded = await openSocket(port)
  folded.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nX-Note: caf\xe9\r\n\r\n`, 'latin1')
  await through(folded, 'a head with obs-text in a header value')

  const after = await openSocket(port)
  after.write(`GET http://origin.test:${origin.port}/first HTTP/1.1\r\nHost: origin.test:${origin.port}\r\n\r\n`)
  const first = await readUntilQuiet(after, 200)
  t.match(first, /^HTTP\/1\.1 200 /, 'a plain request first, on the same connection')
  after.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  await through(after, 'a CONNECT after a request on a kept-alive connection')

  const closes = await records.waitForCloses(4)
  t.equal(closes.filter((c) => c['record.kind'] === 'connect').length, 3, 'each tunnel leaves its close record')
  t.ok(records.decisions().every((d) => d['client.address'] === '127.0.0.1'), 'each decision names the client\'s address')
  t.equal(records.decisions().filter((d) => d['record.kind'] === 'connect' && d['guarded.verdict'] === 'allow').length, 3, 'and its allow decision')
})

t.test('a client that connects and sends nothing gets a 408 after the headers timeout', async (t) => {
  const { openSocket, readUntilQuiet } = await import('../helpers/raw-client.js')
  const { port } = await startStack(t, { policy: policy(), resolve: PINS, limits: { headersTimeoutMs: 300 } })
  const silent = await openSocket(port)
  const started = Date.now()
  const said = await readUntilQuiet(silent, 2_000, 5_000)
  const elapsed = Date.now() - started
  t.match(said, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'the proxy says why it hangs up')
  t.ok(elapsed >= 250 && elapsed < 4_000, `after about the headers timeout (${elapsed} ms)`)
})

t.test('a client that half-closes the tunnel still gets the rest of the answer', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const tunnel = await tunnelTo(t, port, `origin.test:${echo.port}`)
  const payload = Buffer.alloc(256 * 1024, 'x')
  tunnel.socket.end(payload) // FIN right after the data: the echo is still on its way back
  const back = await readAll(tunnel.socket, tunnel.rest)
  t.equal(back.length, payload.length, 'everything the origin sent after our FIN arrived')
  const [close] = await records.waitForCloses(1)
  t.match(close, { 'guarded.bytes.sent': payload.length, 'guarded.bytes.received': payload.length })
})

t.test('an origin that closes first ends the tunnel as upstream-closed', async (t) => {
  const { createServer } = await import('node:net')
  const { listenOn } = await import('../helpers/origins.js')
  const banner = createServer((socket) => socket.end('220 banner then bye\r\n'))
  const bannerPort = await listenOn(banner, t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const tunnel = await tunnelTo(t, port, `origin.test:${bannerPort}`)
  t.equal((await readAll(tunnel.socket, tunnel.rest)).toString(), '220 banner then bye\r\n', 'the client saw the bytes, then the close')
  t.match(await records.waitForCloses(1), [{ 'guarded.outcome': 'upstream-closed', 'guarded.bytes.received': 21, 'guarded.bytes.sent': 0 }])
})

t.test('when the proxy cuts a tunnel at shutdown, the origin side is closed too and the tunnel is recorded', async (t) => {
  const { createServer } = await import('node:net')
  const { listenOn } = await import('../helpers/origins.js')
  const upstreamClosed: Promise<void>[] = []
  const origin = createServer((socket) => {
    upstreamClosed.push(new Promise((resolve) => socket.once('close', () => resolve())))
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  const originPort = await listenOn(origin, t)
  const { port, proxy, records } = await startStack(t, { policy: policy(), resolve: PINS, limits: { drainTimeoutMs: 200 } })
  const tunnel = await tunnelTo(t, port, `origin.test:${originPort}`)
  tunnel.socket.write('busy')
  t.equal((await readBytes(tunnel.socket, 4)).toString(), 'busy')
  await proxy.close() // the tunnel is busy: after the drain timeout its client socket is destroyed
  const gone = await Promise.race([upstreamClosed[0]?.then(() => true), sleep(2_000).then(() => false)])
  t.ok(gone, 'the upstream connection was closed with the client side, not left to the idle timeout')
  t.match(await records.waitForCloses(1, 2_000), [{ 'record.kind': 'connect' }], 'the close record was emitted')
})

t.test('an idle tunnel is torn down after the idle timeout and recorded as a timeout', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS, limits: { idleTimeoutMs: 300 } })
  const tunnel = await tunnelTo(t, port, `origin.test:${echo.port}`)
  tunnel.socket.write('once')
  await readBytes(tunnel.socket, 4)
  const started = Date.now()
  await readAll(tunnel.socket)
  t.ok(Date.now() - started < 2_000, 'the proxy closed the idle tunnel')
  t.match(await records.waitForCloses(1), [{ 'guarded.outcome': 'timeout' }])
  const silent = await tunnelTo(t, port, `origin.test:${echo.port}`)
  await readAll(silent.socket)
  t.match(await records.waitForCloses(2), [{}, { 'guarded.outcome': 'timeout' }], 'a tunnel that never carried a byte too')
})

/**
 * An origin that, per connection, either sends a byte every `everyMs` (download) or only counts what it is
 * sent and answers `ok` on request (upload). Each direction alone must keep a tunnel alive.
 */
async function startOneWayOrigin(t: Parameters<typeof startEchoOrigin>[0], everyMs: number): Promise<{ port: number; received: number[] }> {
  const received: number[] = []
  const server = createTcpServer((socket) => {
    socket.on('error', () => {})
    const index = received.push(0) - 1
    const ticker = setInterval(() => socket.write('.'), everyMs)
    socket.once('data', (first) => {
      if (first.toString() !== 'upload') return
      clearInterval(ticker)
      socket.on('data', (chunk: Buffer) => {
        received[index]! += chunk.length
        if (chunk.includes('?')) socket.write('ok')
      })
    })
    socket.once('close', () => clearInterval(ticker))
  })
  return { port: await listenOn(server, t), received }
}

/** A CONNECT whose head the proxy's own reader declines (a repeated header): Node's parser serves it. */
async function parsedTunnel(t: Parameters<typeof startEchoOrigin>[0], port: number, target: string): Promise<Socket> {
  const socket = await openSocket(port)
  t.teardown(() => socket.destroy())
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nX-Note: a\r\nX-Note: b\r\n\r\n`)
  const head = (await readBytes(socket, 39)).toString('latin1')
  if (!head.startsWith('HTTP/1.1 200 ')) throw new Error(`no tunnel: ${head}`)
  return socket
}

for (const via of ['the proxy\'s CONNECT reader', 'Node\'s parser'] as const) {
  t.test(`via ${via}: bytes one way only keep a tunnel past its idle timeout; silence then ends it as a timeout`, async (t) => {
    const origin = await startOneWayOrigin(t, 40)
    const { port, records } = await startStack(t, { policy: policy(), resolve: PINS, limits: { idleTimeoutMs: 300 } })
    const open = async (): Promise<Socket> => {
      if (via === 'Node\'s parser') return parsedTunnel(t, port, `origin.test:${origin.port}`)
      const tunnel = await tunnelTo(t, port, `origin.test:${origin.port}`)
      t.equal(tunnel.response.status, 200)
      return tunnel.socket
    }
    const download = await open()
    download.write('download') // the client's only bytes: from here the origin talks, the client listens
    const arrived = await readBytes(download, 25, Buffer.alloc(0), 5_000)
    t.equal(arrived.length, 25, 'a second of downloaded bytes, over three idle timeouts')
    const upload = await open()
    upload.write('upload')
    for (let i = 0; i < 25; i++) {
      await sleep(40)
      upload.write('u')
    }
    upload.write('?')
    t.equal((await readBytes(upload, 2)).toString(), 'ok', 'a second of uploading: the tunnel is still open, and the origin answers')
    t.equal(origin.received[1], 26, 'the origin received every uploaded byte')
    t.equal(records.closes().length, 0, 'neither tunnel was closed while it carried bytes')
    download.destroy() // the download origin would talk forever; the upload tunnel now goes quiet
    const quiet = Date.now()
    await records.waitForCloses(1)
    // Only a connection whose head the proxy read itself has a limit of ours; Node's parser keeps its own timer.
    t.equal(watchedCount(), via === 'Node\'s parser' ? 0 : 1, 'a closed connection takes its idle limit with it: only the open one is watched')
    await readAll(upload)
    t.ok(Date.now() - quiet < 2_000, `the silent tunnel was closed (${Date.now() - quiet} ms)`)
    const closes = await records.waitForCloses(2)
    t.match(closes.map((c) => c['guarded.outcome']).sort(), ['client-closed', 'timeout'], 'the quiet one ended as a timeout')
    t.equal(watchedCount(), 0, 'closed connections leave no time limit behind')
  })
}

/**
 * A CONNECT to unknown.test (with `extra` bytes in the same write) parked for an approver; the client
 * half-closes while it waits, then it is approved. Returns the close record and all the client read.
 */
async function halfCloseWhileParked(t: Parameters<typeof startEchoOrigin>[0], extra: string): Promise<{ close: CloseEvent | undefined; answer: string; parked: boolean; upstreams: number }> {
  const echo = await startEchoOrigin(t)
  const { port, proxy, records } = await startStack(t, { policy: policy(), resolve: PINS, approval: { approvers: ['web'], timeoutMs: 30_000 } })
  const socket = await openSocket(port)
  t.teardown(() => socket.destroy())
  const answer = readAll(socket)
  socket.write(`CONNECT unknown.test:${echo.port} HTTP/1.1\r\nHost: unknown.test\r\n\r\n${extra}`)
  for (let i = 0; i < 200 && proxy.approvals.list().length === 0; i++) await sleep(10)
  const [parked] = proxy.approvals.list()
  socket.end() // half-closed while parked: the proxy reads the FIN while nothing of the tunnel listens yet
  await sleep(100)
  proxy.approvals.decide(parked?.id ?? '', { decision: 'allow', scope: 'once', by: 'test' })
  const [close] = await records.waitForCloses(1, 3_000)
  return { close, answer: (await answer).toString('latin1'), parked: parked !== undefined, upstreams: echo.connections }
}

t.test('a client that half-closes while its CONNECT waits is let go when the tunnel opens, not held until the timeouts', async (t) => {
  const { close, answer, parked, upstreams } = await halfCloseWhileParked(t, '')
  t.ok(parked, 'the CONNECT waited for an approver')
  t.match(close, { 'guarded.outcome': 'client-closed' }, 'recorded at once, not after the 10 s headers timeout')
  t.match(answer, /^HTTP\/1\.1 200 /, 'the client got its 200, then the proxy closed its side')
  t.equal(upstreams, 1, 'the upstream was connected, and is closed with the tunnel')
})

t.test('bytes sent with the CONNECT, then a half-close while it waits: the origin gets both, the client its answer', async (t) => {
  const { close, answer } = await halfCloseWhileParked(t, 'hello, origin\n')
  t.match(close, { 'guarded.outcome': 'client-closed', 'guarded.bytes.sent': 14, 'guarded.bytes.received': 14 })
  t.match(answer, /^HTTP\/1\.1 200 [^]*\r\n\r\nhello, origin\n$/, 'the echo came back after the 200: the half-close reached the origin after the bytes')
})

t.test('/metrics counts open tunnels up as they open and down as they close, whichever side ends them', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, proxy, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const open = async (): Promise<number | undefined> => {
    const res = await request(`${proxy.admin.url}/metrics`)
    return sample(parseProm(await res.body.text()), 'guarded_active_tunnels', { kind: 'connect' })
  }
  const tunnels = await Promise.all([1, 2, 3].map(() => tunnelTo(t, port, `origin.test:${echo.port}`)))
  t.equal((await tunnelTo(t, port, `evil.pastebin.com:${echo.port}`)).response.status, 403)
  await Promise.all(tunnels.map(async ({ socket }) => (socket.write('x'), readBytes(socket, 1))))
  t.equal(await open(), 3, 'three tunnels open; the refused CONNECT is not one')
  tunnels[0]?.socket.end()
  tunnels[1]?.socket.destroy()
  await records.waitForCloses(3)
  t.equal(await open(), 1)
  tunnels[2]?.socket.end()
  await records.waitForCloses(4)
  t.equal(await open(), 0, 'back to zero')
})

t.test('a tunnel stays open past the header and keep-alive timeouts, and closes once', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS, limits: { headersTimeoutMs: 200, keepAliveTimeoutMs: 200 } })
  const tunnel = await tunnelTo(t, port, `origin.test:${echo.port}`)
  t.equal(tunnel.response.status, 200)
  for (let i = 0; i < 3; i++) {
    await sleep(500)
    tunnel.socket.write(`ping ${i}\n`)
    t.equal((await readBytes(tunnel.socket, 7)).toString(), `ping ${i}\n`, `still open after ${(i + 1) * 500} ms`)
  }
  t.equal(records.closes().length, 0, 'no close while the tunnel is open')
  tunnel.socket.end()
  await records.waitForCloses(1)
  t.equal(records.decisions().length, 1)
})

t.test('each of several concurrent tunnels emits exactly one decision and one close', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const tunnels = await Promise.all([1, 2, 3, 4].map(() => tunnelTo(t, port, `origin.test:${echo.port}`)))
  const refused = await tunnelTo(t, port, `evil.pastebin.com:${echo.port}`)
  t.equal(refused.response.status, 403)
  await Promise.all(tunnels.map(async (tunnel, i) => {
    tunnel.socket.write(`tunnel ${i}`)
    t.equal((await readBytes(tunnel.socket, 8)).toString(), `tunnel ${i}`, 'each tunnel carries its own bytes')
    tunnel.socket.end()
  }))
  await records.waitForCloses(5)
  await sleep(100)
  const ids = new Set(records.all.map((e) => e['record.id']))
  t.equal(ids.size, 5)
  for (const id of ids) {
    const events = records.all.filter((e) => e['record.id'] === id).map((e) => e.type)
    t.same(events, ['decision', 'close'], `record ${id}: one decision, then one close`)
  }
  t.equal(echo.connections, 4)
})

t.test('every X-Guarded-Decision this suite saw is in the reason catalogue', async (t) => {
  t.ok(decisionsSeen.size >= 10, `the suite saw ${[...decisionsSeen].join(', ')}`)
  for (const reason of decisionsSeen) t.ok(Object.hasOwn(REASONS, reason), `${reason} is in policy/reasons.ts`)
})
