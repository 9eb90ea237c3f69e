/** A CONNECT tunnel's life once it is allowed: bytes both ways, half-closes, shutdown, and its records. Its time limits: tunnel-timeouts.test.ts. */
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { request } from 'undici'
import type { CloseEvent } from '../../proxy/events.js'
import { openTunnel, readAll, readBytes } from '../helpers/clients.js'
import { startEchoOrigin, startHttpOrigin } from '../helpers/origins.js'
import { openSocket } from '../helpers/raw-client.js'
import { startStack } from '../helpers/start-stack.js'
import { parseProm, sample } from './sinks/prom-text.js'
import { PINS, policy } from './connect-fixtures.js'

t.test('data pipelined with the CONNECT head reaches the origin', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const early = 'sent in the same write as the CONNECT head\n'
  const tunnel = await openTunnel(t, port, `origin.test:${echo.port}`, early)
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
  const tunnel = await openTunnel(t, port, `origin.test:${echo.port}`, head)
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
    const tunnel = await openTunnel(t, port, `origin.test:${originPort}`, Buffer.from([i]))
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
  const tunnel = await openTunnel(t, port, `origin.test:${originPort}`)
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

t.test('a client that half-closes the tunnel still gets the rest of the answer', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const tunnel = await openTunnel(t, port, `origin.test:${echo.port}`)
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
  const tunnel = await openTunnel(t, port, `origin.test:${bannerPort}`)
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
  const tunnel = await openTunnel(t, port, `origin.test:${originPort}`)
  tunnel.socket.write('busy')
  t.equal((await readBytes(tunnel.socket, 4)).toString(), 'busy')
  await proxy.close() // the tunnel is busy: after the drain timeout its client socket is destroyed
  const gone = await Promise.race([upstreamClosed[0]?.then(() => true), sleep(2_000).then(() => false)])
  t.ok(gone, 'the upstream connection was closed with the client side, not left to the idle timeout')
  t.match(await records.waitForCloses(1, 2_000), [{ 'record.kind': 'connect' }], 'the close record was emitted')
})

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
  const tunnels = await Promise.all([1, 2, 3].map(() => openTunnel(t, port, `origin.test:${echo.port}`)))
  t.equal((await openTunnel(t, port, `evil.pastebin.com:${echo.port}`)).response.status, 403)
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

t.test('each of several concurrent tunnels emits exactly one decision and one close', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS })
  const tunnels = await Promise.all([1, 2, 3, 4].map(() => openTunnel(t, port, `origin.test:${echo.port}`)))
  const refused = await openTunnel(t, port, `evil.pastebin.com:${echo.port}`)
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
