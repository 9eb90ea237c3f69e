/** Plain-HTTP proxying end to end: absolute-form requests, keep-alive, hop-by-hop headers, protocol refusals, WebSockets. */
import { Readable } from 'node:stream'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Socket } from 'node:net'
import t, { type Test } from 'tap'
import { ProxyAgent, request } from 'undici'
import { REASONS } from '../../policy/reasons.js'
import { closedPort, curl, readBytes } from '../helpers/clients.js'
import { startHttpOrigin, startSilentOrigin } from '../helpers/origins.js'
import { openSocket, parseResponse, rawRequest, readUntilQuiet, type RawResponse } from '../helpers/raw-client.js'
import { startStack } from '../helpers/start-stack.js'

const POLICY = `version: 1
default: deny
allow:
  - "origin.test:*"
block:
  - "*.pastebin.com"
allow_private:
  - 127.0.0.0/8
`
const PINS = { 'origin.test': '127.0.0.1', 'evil.pastebin.com': '127.0.0.1', 'unknown.test': '127.0.0.1' }
const FIVE_MB = 5 * 1024 * 1024

/** Every X-Guarded-Decision value a response in this suite carried. */
const decisionsSeen = new Set<string>()
function saw(headers: Record<string, string | string[] | undefined>): void {
  const value = headers['x-guarded-decision']
  if (typeof value === 'string') decisionsSeen.add(value)
}

/** A raw request on a fresh connection, remembering its decision header. */
async function raw(port: number, bytes: string): Promise<RawResponse> {
  const res = await rawRequest(port, bytes)
  saw(res.headers)
  return res
}

/** One request on an open connection; returns the response read until the proxy goes quiet. */
async function exchange(socket: Socket, bytes: string, quietMs = 200): Promise<RawResponse> {
  socket.write(bytes)
  const res = parseResponse(await readUntilQuiet(socket, quietMs))
  saw(res.headers)
  return res
}

function agentFor(t: Test, proxyUrl: string): ProxyAgent {
  // proxyTunnel: false makes undici send absolute-form requests for http:// URLs instead of CONNECT.
  const agent = new ProxyAgent({ uri: proxyUrl, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  return agent
}

/** `bytes` of 'z' in 64 KiB pieces, as a stream of unknown length (so the body goes chunked). */
function streamOf(bytes: number): Readable {
  return Readable.from((function* () {
    for (let left = bytes; left > 0; left -= 65536) yield Buffer.alloc(Math.min(left, 65536), 'z')
  })())
}

t.test('undici GET through the proxy reaches the origin in origin-form, and is recorded', async (t) => {
  const origin = await startHttpOrigin(t)
  const { url, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await request(origin.url('/plain?x=1', 'origin.test'), { dispatcher: agentFor(t, url) })
  t.equal(res.statusCode, 200)
  const body = await res.body.text()
  t.equal(body, 'origin saw GET /plain?x=1 0')
  t.equal(origin.seen[0]?.url, '/plain?x=1', 'the origin got an origin-form target')
  t.equal(origin.seen[0]?.headers.host, `origin.test:${origin.port}`)
  t.match(records.last(), {
    'record.kind': 'http',
    'http.request.method': 'GET',
    'server.address': 'origin.test',
    'server.port': origin.port,
    'network.peer.address': '127.0.0.1',
    'guarded.classification': 'allowed',
    'guarded.verdict': 'allow',
    'guarded.reason': 'allowed',
  })
  const [close] = await records.waitForCloses(1)
  t.match(close, { 'record.kind': 'http', 'guarded.outcome': 'completed', 'guarded.bytes.sent': 0, 'guarded.bytes.received': body.length })
})

t.test('undici: a 5 MB chunked POST body up and a 5 MB body down, both streamed', async (t) => {
  const origin = await startHttpOrigin(t)
  const { url, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await request(origin.url(`/bytes/${FIVE_MB}`, 'origin.test'), { method: 'POST', body: streamOf(FIVE_MB), dispatcher: agentFor(t, url) })
  t.equal(res.statusCode, 200)
  const down = Buffer.from(await res.body.arrayBuffer())
  t.equal(down.length, FIVE_MB, 'the whole response arrived')
  t.equal(origin.seen[0]?.body.length, FIVE_MB, 'the whole request body arrived')
  t.equal(origin.seen[0]?.headers['transfer-encoding'], 'chunked', 'the body was streamed chunked to the origin')
  const [close] = await records.waitForCloses(1)
  t.match(close, { 'guarded.outcome': 'completed', 'guarded.bytes.sent': FIVE_MB, 'guarded.bytes.received': FIVE_MB })
})

t.test('curl: GET 5 MB, and POST a 5 MB chunked body', async (t) => {
  const origin = await startHttpOrigin(t)
  const { url, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const get = await curl(['-x', url, origin.url(`/bytes/${FIVE_MB}`, 'origin.test')])
  t.equal(get.code, 0, get.stderr)
  t.equal(get.stdout.length, FIVE_MB)
  t.ok(get.stdout.every((b) => b === 97), 'the bytes are the origin bytes')
  const dir = await mkdtemp(join(tmpdir(), 'guarded-http-'))
  const file = join(dir, 'body')
  await writeFile(file, Buffer.alloc(FIVE_MB, 'q'))
  const post = await curl(['-x', url, '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${file}`, origin.url('/upload', 'origin.test')])
  t.equal(post.code, 0, post.stderr)
  t.equal(post.stdout.toString(), `origin saw POST /upload ${FIVE_MB}`)
  t.equal(origin.seen[1]?.headers['transfer-encoding'], 'chunked')
  const closes = await records.waitForCloses(2)
  t.match(closes, [{ 'guarded.bytes.received': FIVE_MB }, { 'guarded.bytes.sent': FIVE_MB }])
  t.equal(records.decisions().length, 2)
})

t.test('a request head and a large body in one write arrive in order: the first read goes back to Node\'s parser intact', async (t) => {
  // The proxy reads a connection's first bytes itself to spot a CONNECT (read-connect-head.ts). A first read
  // that fills libuv's 64 KiB buffer is followed at once by another: that one must not overtake the first.
  const { createServer } = await import('node:http')
  const { createHash, randomBytes } = await import('node:crypto')
  const { listenOn } = await import('../helpers/origins.js')
  const body = randomBytes(3 * 1024 * 1024 + 17)
  const digest = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex')
  const origin = createServer((req, res) => {
    const hash = createHash('sha256')
    let length = 0
    req.on('data', (chunk: Buffer) => ((length += chunk.length), hash.update(chunk)))
    req.on('end', () => res.end(`${req.method} ${req.url} ${length} ${hash.digest('hex')}`))
  })
  const port = await listenOn(origin, t)
  const { port: proxyPort } = await startStack(t, { policy: POLICY, resolve: PINS })
  const authority = `origin.test:${port}`
  const head = `POST http://${authority}/upload HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`
  const socket = await openSocket(proxyPort)
  t.teardown(() => socket.destroy())
  socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]))
  const answer = parseResponse(await readUntilQuiet(socket, 500, 20_000))
  t.equal(answer.status, 200)
  t.equal(answer.body, `POST /upload ${body.length} ${digest(body)}`, 'the origin got the body byte for byte, in order')
})

t.test('keep-alive: each request on one connection is classified on its own', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const socket = await openSocket(port)
  t.teardown(() => socket.destroy())
  const allowed = `GET ${origin.url('/first', 'origin.test')} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\n\r\n`
  const blocked = 'GET http://evil.pastebin.com/second HTTP/1.1\r\nHost: evil.pastebin.com\r\n\r\n'
  const first = await exchange(socket, allowed)
  t.equal(first.status, 200)
  t.match(first.body, 'origin saw GET /first')
  const second = await exchange(socket, blocked)
  t.equal(second.status, 403, 'the second request on the same connection is refused')
  t.equal(second.headers['x-guarded-decision'], 'blocked')
  t.equal(second.headers['x-guarded-rule'], '*.pastebin.com')
  const third = await exchange(socket, allowed.replace('/first', '/third'))
  t.equal(third.status, 200, 'a refusal does not end the connection')
  t.equal(origin.seen.length, 2, 'the origin saw only the allowed requests')
  t.match(records.decisions(), [
    { 'server.address': 'origin.test', 'guarded.verdict': 'allow' },
    { 'server.address': 'evil.pastebin.com', 'guarded.verdict': 'deny', 'guarded.reason': 'blocked', 'guarded.classification': 'blocked' },
    { 'server.address': 'origin.test', 'guarded.verdict': 'allow' },
  ])
  t.equal(new Set(records.decisions().map((d) => d['record.id'])).size, 3, 'one record per request')
})

t.test('keep-alive: a pipelined allowed request and blocked request get 200 then 403', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await rawRequest(port, [
    `GET ${origin.url('/a', 'origin.test')} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\n\r\n`,
    'GET http://evil.pastebin.com/b HTTP/1.1\r\nHost: evil.pastebin.com\r\nConnection: close\r\n\r\n',
  ].join(''))
  const statuses = [...res.raw.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]))
  t.same(statuses, [200, 403], 'two responses, in order')
  t.match(res.raw, /x-guarded-decision: blocked/i)
  t.equal(origin.seen.length, 1)
  await records.waitForCloses(2)
  // Node hands both pipelined requests over at once; the refusal may be decided before the allowed one.
  const byHost = new Map(records.decisions().map((d) => [d['server.address'], d]))
  t.match(byHost.get('origin.test'), { 'guarded.verdict': 'allow' })
  t.match(byHost.get('evil.pastebin.com'), { 'guarded.verdict': 'deny', 'guarded.reason': 'blocked' })
})

t.test('hop-by-hop headers are removed toward the origin and from the response', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, proxy, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const { token } = proxy.sessions.create({ id: 'agent-1' })
  const res = await raw(port, [
    `GET ${origin.url('/hop', 'origin.test')} HTTP/1.1`,
    `Host: origin.test:${origin.port}`,
    'Connection: keep-alive, x-secret',
    'Keep-Alive: timeout=5',
    'Proxy-Connection: keep-alive',
    `Proxy-Authorization: Basic ${Buffer.from(`agent-1:${token}`).toString('base64')}`,
    'TE: trailers',
    'X-Secret: 1',
    'X-End-To-End: kept',
    'Authorization: Bearer for-the-origin',
    '', '',
  ].join('\r\n'))
  t.equal(res.status, 200)
  const headers = origin.seen[0]?.headers ?? {}
  for (const name of ['keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'x-secret']) t.notOk(name in headers, `${name} is not forwarded`)
  t.not(headers.connection, 'keep-alive, x-secret', "the client's Connection header is not forwarded")
  t.equal(headers['x-end-to-end'], 'kept', 'end-to-end headers are forwarded')
  t.equal(headers.authorization, 'Bearer for-the-origin', 'Authorization is for the origin and is forwarded')
  t.notOk('x-origin-hop' in res.headers, "the origin's Connection-named header is removed")
  t.notMatch(res.headers.connection ?? '', /x-origin-hop/, "the origin's Connection header is not passed on")
  t.equal(res.headers['content-type'], 'text/plain')
  t.match(records.last(), { 'session.id': 'agent-1', 'guarded.verdict': 'allow' }, 'the credentials were used by the proxy, then dropped')
})

t.test('an HTTP/1.0 request without Host reaches the origin with a Host', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port } = await startStack(t, { policy: POLICY, resolve: PINS })
  const res = await raw(port, `GET ${origin.url('/old', 'origin.test')} HTTP/1.0\r\n\r\n`)
  t.equal(res.status, 200)
  t.equal(origin.seen[0]?.headers.host, `origin.test:${origin.port}`)
})

t.test('the request target path reaches the origin byte for byte', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port } = await startStack(t, { policy: POLICY, resolve: PINS })
  for (const path of ['/a//b', '//double-leading', '/c/http:/d', '/e%2F%2e%2e/f?g=//h&i=%00']) {
    const res = await raw(port, `GET http://origin.test:${origin.port}${path} HTTP/1.1\r\nHost: origin.test:${origin.port}\r\nConnection: close\r\n\r\n`)
    t.equal(res.status, 200, path)
    t.equal(origin.seen.at(-1)?.url, path, `${path} is forwarded unchanged`)
  }
})

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

t.test('a WebSocket upgrade to an allowed origin is 101 and carries bytes both ways', async (t) => {
  const origin = await startHttpOrigin(t)
  const { port, proxy, records } = await startStack(t, { policy: POLICY, resolve: PINS })
  const { token } = proxy.sessions.create({ id: 'agent-ws' })
  const socket = await openSocket(port)
  t.teardown(() => socket.destroy())
  socket.write([
    `GET ${origin.url('/ws', 'origin.test')} HTTP/1.1`,
    `Host: origin.test:${origin.port}`,
    'Upgrade: websocket',
    'Connection: Upgrade, x-secret',
    'X-Secret: 1',
    `Proxy-Authorization: Basic ${Buffer.from(`agent-ws:${token}`).toString('base64')}`,
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    '', '',
  ].join('\r\n'))
  const head = await readBytes(socket, 12)
  t.match(head.toString('latin1'), /^HTTP\/1\.1 101 /)
  let received = head
  if (!received.includes('\r\n\r\n')) received = await readBytes(socket, received.length + 1, received)
  const afterHead = received.subarray(received.indexOf('\r\n\r\n') + 4)
  socket.write('frame-one')
  t.equal((await readBytes(socket, 9, afterHead)).toString(), 'frame-one', 'bytes are echoed through the upgraded connection')
  const seen = origin.seen[0]
  t.equal(seen?.url, '/ws')
  t.equal(seen?.headers.upgrade, 'websocket')
  t.match(seen?.headers.connection, /upgrade/i)
  t.notOk(seen && 'x-secret' in seen.headers, 'a header named in Connection is not forwarded')
  t.notOk(seen && 'proxy-authorization' in seen.headers, 'Proxy-Authorization is not forwarded')
  t.match(records.last(), { 'record.kind': 'upgrade', 'session.id': 'agent-ws', 'server.address': 'origin.test', 'guarded.verdict': 'allow', 'guarded.reason': 'allowed' })
  t.equal(records.closes().length, 0, 'no close while the WebSocket is open')
  socket.end()
  t.match(await records.waitForCloses(1), [{ 'record.kind': 'upgrade' }])
  t.equal(records.decisions().length, 1)
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
