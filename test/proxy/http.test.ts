/** Plain-HTTP proxying end to end: absolute-form requests, bodies, keep-alive, hop-by-hop headers, paths, WebSockets. Refusals: http-refusals.test.ts. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { request } from 'undici'
import { curl, readBytes } from '../helpers/clients.js'
import { startHttpOrigin } from '../helpers/origins.js'
import { openSocket, parseResponse, rawRequest, readUntilQuiet } from '../helpers/raw-client.js'
import { startStack } from '../helpers/start-stack.js'
import { tempDir } from '../helpers/temp-dir.js'
import { agentFor, exchange, FIVE_MB, PINS, POLICY, raw, streamOf } from './http-fixtures.js'

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
  const dir = await tempDir(t, 'guarded-http-')
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
