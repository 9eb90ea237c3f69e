/**
 * CONNECT admission end to end: real clients, allowed and refused destinations, hostile targets over raw
 * sockets, upstreams that fail, and the records each leaves. A tunnel's life once open: tunnel.test.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { REASONS } from '../../policy/reasons.js'
import type { Lookup } from '../../proxy/resolver.js'
import { closedPort, curl, openTunnel } from '../helpers/clients.js'
import { startEchoOrigin, startHttpOrigin, startSilentOrigin } from '../helpers/origins.js'
import { openSocket, rawRequest } from '../helpers/raw-client.js'
import { startStack } from '../helpers/start-stack.js'
import { PINS, policy } from './connect-fixtures.js'

/** Every X-Guarded-Decision value a response in this suite carried. */
const decisionsSeen = new Set<string>()

/** openTunnel, remembering the decision header the proxy answered with. */
async function tunnelTo(...args: Parameters<typeof openTunnel>): ReturnType<typeof openTunnel> {
  const tunnel = await openTunnel(...args)
  const decision = tunnel.response.headers['x-guarded-decision']
  if (decision !== undefined) decisionsSeen.add(decision)
  return tunnel
}

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


t.test('every X-Guarded-Decision this suite saw is in the reason catalogue', async (t) => {
  t.ok(decisionsSeen.size >= 10, `the suite saw ${[...decisionsSeen].join(', ')}`)
  for (const reason of decisionsSeen) t.ok(Object.hasOwn(REASONS, reason), `${reason} is in policy/reasons.ts`)
})
