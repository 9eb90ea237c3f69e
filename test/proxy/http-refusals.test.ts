/** Plain-HTTP requests the proxy refuses or cannot complete: malformed and ambiguous requests, protocols it does not carry, policy refusals, failed upstreams. */
import t from 'tap'
import { request } from 'undici'
import { REASONS } from '../../policy/reasons.js'
import { closedPort } from '../helpers/clients.js'
import { startHttpOrigin, startSilentOrigin } from '../helpers/origins.js'
import { startStack } from '../helpers/start-stack.js'
import { agentFor, decisionsSeen, PINS, POLICY, raw, saw } from './http-fixtures.js'

t.test('a Host header that names another authority, or two Host headers, are 400 bad-request', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const target = origin.url('/x', 'origin.test')
  const rows: readonly (readonly [string, string])[] = [
    [`Host: evil.pastebin.com`, 'another host'],
    [`Host: origin.test:${origin.port + 1}`, 'another port'],
    [`Host: origin.test`, 'the default port instead of the URI port'],
    [`Host: origin.test:${origin.port}\r\nHost: origin.test:${origin.port}`, 'two equal Host headers'],
    [`Host: origin.test:${origin.port}\r\nhost: evil.pastebin.com`, 'a second Host hiding another host'],
  ]
  for (const [hostLines, why] of rows) {
    const res = await raw(port, `GET ${target} HTTP/1.1\r\n${hostLines}\r\n\r\n`)
    t.equal(res.status, 400, why)
    t.equal(res.headers['x-guarded-decision'], 'bad-request', why)
  }
  t.equal(origin.seen.length, 0, 'nothing reached the origin')
  t.match(records.decisions(), Array(rows.length).fill({ 'guarded.verdict': 'deny', 'guarded.reason': 'bad-request' }))
})

t.test('ambiguous message framing is refused with a 400 and never reaches the origin', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const start = `POST ${origin.url('/smuggle', 'origin.test')} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\n`
  const smuggled = `GET http://evil.pastebin.com/ HTTP/1.1\r\nHost: evil.pastebin.com\r\n\r\n`
  const rows: readonly (readonly [string, string])[] = [
    [`Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, 'Content-Length and Transfer-Encoding together'],
    [`Content-Length: 4\r\nContent-Length: 40\r\n\r\nabcd${smuggled}`, 'two different Content-Lengths'],
    [`Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`, 'chunked not last'],
    [`Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`, 'space before the colon'],
    [`X-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n`, 'obsolete line folding'],
  ]
  for (const [rest, why] of rows) {
    const res = await raw(port, start + rest)
    t.equal(res.status, 400, why)
    t.match(res.headers['x-guarded-decision'], /^(bad-request|unsupported-protocol)$/, why)
    t.equal([...res.raw.matchAll(/^HTTP\/1\.1 /gm)].length, 1, `${why}: one response, nothing smuggled behind it`)
  }
  t.equal(origin.seen.length, 0, 'nothing reached the origin')
  t.ok(records.decisions().every((d) => d['guarded.verdict'] === 'deny'), 'every one was a deny')
  t.notOk(records.decisions().some((d) => d['server.address'] === 'evil.pastebin.com'), 'the smuggled request was never parsed as a request')
})

t.test('Transfer-Encoding other than chunked is 400 unsupported-protocol', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await raw(port, `POST ${origin.url('/te', 'origin.test')} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`)
  t.equal(res.status, 400)
  t.equal(res.headers['x-guarded-decision'], 'unsupported-protocol')
  t.match(res.body, /Transfer-Encoding/)
  t.equal(origin.seen.length, 0)
  t.match(records.last(), { 'guarded.verdict': 'deny', 'guarded.reason': 'unsupported-protocol' })
})

t.test('Upgrade: h2c is 400 unsupported-protocol, with or without Connection: upgrade', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const base = `GET ${origin.url('/h2c', 'origin.test')} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n`
  for (const extra of ['Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n', 'Upgrade: h2c\r\n', 'Upgrade: websocket, h2c\r\nConnection: Upgrade\r\n']) {
    const res = await raw(port, `${base}${extra}\r\n`)
    t.equal(res.status, 400, JSON.stringify(extra))
    t.equal(res.headers['x-guarded-decision'], 'unsupported-protocol', JSON.stringify(extra))
  }
  t.equal(origin.seen.length, 0)
  t.match(records.decisions(), Array(3).fill({ 'guarded.reason': 'unsupported-protocol' }))
})

t.test('a WebSocket upgrade to a blocked host is 403', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await raw(port, `GET http://evil.pastebin.com:${origin.port}/ws HTTP/1.1\r\nHost: evil.pastebin.com:${origin.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  t.equal(res.status, 403)
  t.equal(res.headers['x-guarded-decision'], 'blocked')
  t.equal(res.headers['x-guarded-rule'], '*.pastebin.com')
  t.equal(origin.seen.length, 0)
  t.match(records.last(), { 'record.kind': 'upgrade', 'guarded.verdict': 'deny', 'guarded.reason': 'blocked' })
})

t.test('an origin-form request is 400 not-a-proxy-request, with how to use the proxy', async (t) => {
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await raw(port, `GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  t.equal(res.status, 400)
  t.equal(res.headers['x-guarded-decision'], 'not-a-proxy-request')
  t.match(res.body, /HTTP_PROXY/)
  t.match(res.body, /GET http:\/\/host\/path/)
  t.match(res.body, /CONNECT host:port/)
  t.match(records.last(), { 'guarded.verdict': 'deny', 'guarded.reason': 'not-a-proxy-request' })
})

t.test('an https:// absolute-form request is refused with a pointer to CONNECT', async (t) => {
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await raw(port, 'GET https://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n')
  t.equal(res.status, 400)
  t.equal(res.headers['x-guarded-decision'], 'bad-request')
  t.match(res.body, /CONNECT/)
  t.match(records.last(), { 'guarded.reason': 'bad-request' })
})

t.test('refusals of plain-HTTP requests through undici carry the reason header', async (t) => {
  const origin = await startHttpOrigin(t)
  const { url, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const agent = agentFor(t, url)
  const blocked = await request(`http://evil.pastebin.com:${origin.port}/`, { dispatcher: agent })
  saw(blocked.headers)
  t.equal(blocked.statusCode, 403)
  t.equal(blocked.headers['x-guarded-decision'], 'blocked')
  t.match(await blocked.body.text(), /rule: \*\.pastebin\.com/)
  const unknown = await request(`http://unknown.test:${origin.port}/`, { dispatcher: agent })
  saw(unknown.headers)
  t.equal(unknown.statusCode, 403)
  t.equal(unknown.headers['x-guarded-decision'], 'unknown')
  await unknown.body.text()
  const dead = await request(`http://origin.test:${await closedPort()}/`, { dispatcher: agent })
  saw(dead.headers)
  t.equal(dead.statusCode, 502)
  t.equal(dead.headers['x-guarded-decision'], 'upstream-unreachable')
  await dead.body.text()
  t.equal(origin.seen.length, 0)
  t.match(records.decisions(), [{ 'guarded.reason': 'blocked' }, { 'guarded.reason': 'unknown' }, { 'guarded.verdict': 'allow' }])
  t.match(await records.waitForCloses(3), [{ 'guarded.outcome': 'refused' }, { 'guarded.outcome': 'refused' }, { 'guarded.outcome': 'upstream-error' }])
})

t.test('a plain-HTTP request to a name that resolves to loopback is private-address without allow_private', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY.replace(/allow_private:\n.*\n/, ''), resolve: PINS })
  const res = await raw(port, `GET ${origin.url('/', 'origin.test')} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\n\r\n`)
  t.equal(res.status, 403)
  t.equal(res.headers['x-guarded-decision'], 'private-address')
  t.equal(origin.seen.length, 0)
  t.match(records.last(), { 'guarded.reason': 'private-address' })
})

t.test('an upgrade to anything but WebSocket, or a WebSocket upgrade of a POST, is 400 unsupported-protocol', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const target = origin.url('/up', 'origin.test')
  for (const [method, upgrade] of [['GET', 'foo/1'], ['GET', 'TLS/1.2'], ['POST', 'websocket']] as const) {
    const res = await raw(port, `${method} ${target} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\nUpgrade: ${upgrade}\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n`)
    t.equal(res.status, 400, `${method} Upgrade: ${upgrade}`)
    t.equal(res.headers['x-guarded-decision'], 'unsupported-protocol', `${method} Upgrade: ${upgrade}`)
  }
  t.equal(origin.seen.length, 0)
  t.match(records.decisions(), Array(3).fill({ 'record.kind': 'upgrade', 'guarded.reason': 'unsupported-protocol' }))
})

t.test('a WebSocket upgrade to an allowed origin whose port is closed is 502 upstream-unreachable', async (t) => {
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const dead = await closedPort()
  const res = await raw(port, `GET http://origin.test:${dead}/ws HTTP/1.1\r\nHost: origin.test:${dead}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  t.equal(res.status, 502)
  t.equal(res.headers['x-guarded-decision'], 'upstream-unreachable')
  t.match(await records.waitForCloses(1), [{ 'record.kind': 'upgrade', 'guarded.outcome': 'upstream-error' }])
})

t.test('an allowed origin that never answers the SYN is 504 upstream-timeout near the connect timeout, for a request and a WebSocket upgrade', async (t) => {
  const silent = await startSilentOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS, limits: { connectTimeoutMs: 300 } })
  const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'
  // undici times a request's connect on its own coarse timer, which fires up to about a second late.
  for (const [kind, extra, slackMs] of [['http', '', 1_500], ['upgrade', upgrade, 500]] as const) {
    const started = performance.now()
    const res = await raw(port, `GET http://origin.test:${silent}/ HTTP/1.1\r\nHost: origin.test:${silent}\r\n${extra}\r\n`)
    const took = performance.now() - started
    t.equal(res.status, 504, kind)
    t.equal(res.headers['x-guarded-decision'], 'upstream-timeout', kind)
    t.match(res.body, `127.0.0.1:${silent} did not answer in time`, kind)
    t.ok(took >= 300 && took < 300 + slackMs, `${kind}: not before the limit, nor long after it (${took.toFixed(0)} ms)`)
  }
  t.match(records.decisions(), [{ 'guarded.verdict': 'allow' }, { 'guarded.verdict': 'allow' }], 'the policy allowed both')
  t.match(await records.waitForCloses(2), [
    { 'record.kind': 'http', 'guarded.outcome': 'upstream-error', 'error.type': 'GUARDED_UPSTREAM_TIMEOUT' },
    { 'record.kind': 'upgrade', 'guarded.outcome': 'upstream-error', 'error.type': 'GUARDED_UPSTREAM_TIMEOUT' },
  ])
})

t.test('a plain-HTTP request to the proxy itself is proxy-loop', async (t) => {
  const { port, proxy, records } = await startStack(t, { policy: POLICY.replace('allow:\n', 'allow:\n  - "127.0.0.0/8:*"\n'), resolve: PINS })
  for (const authority of [`origin.test:${port}`, `127.0.0.1:${port}`, `127.1:${proxy.admin.port ?? 0}`]) {
    const res = await raw(port, `GET http://${authority}/ HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)
    t.equal(res.status, 403, authority)
    t.equal(res.headers['x-guarded-decision'], 'proxy-loop', authority)
  }
  t.match(records.decisions(), Array(3).fill({ 'guarded.reason': 'proxy-loop' }))
})

t.test('a refused request with Expect: 100-continue gets the refusal, not an invitation to upload first', async (t) => {
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await raw(port, 'POST http://evil.pastebin.com/upload HTTP/1.1\r\nHost: evil.pastebin.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n')
  t.equal(res.status, 403, 'the first status line the client reads is the refusal (RFC 9110 §10.1.1: a 100 invites the body)')
  t.notMatch(res.raw, /100 Continue/, 'the proxy did not ask for the body of a request it refuses')
  t.match(records.last(), { 'guarded.reason': 'blocked' })
})

t.test('every X-Guarded-Decision this suite saw is in the reason catalogue', async (t) => {
  t.ok(decisionsSeen.size >= 8, `the suite saw ${[...decisionsSeen].join(', ')}`)
  for (const reason of decisionsSeen) t.ok(Object.hasOwn(REASONS, reason), `${reason} is in policy/reasons.ts`)
})
