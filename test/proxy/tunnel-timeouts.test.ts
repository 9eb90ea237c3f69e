/** A connection's time limits, on both CONNECT readers: the headers timeout, the idle timeout, and timeouts that must not cut an open tunnel. */
import { createServer as createTcpServer, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { watchedCount } from '../../proxy/deadline.js'
import { openTunnel, readAll, readBytes } from '../helpers/clients.js'
import { listenOn, startEchoOrigin } from '../helpers/origins.js'
import { openSocket } from '../helpers/raw-client.js'
import { startStack } from '../helpers/start-stack.js'
import { PINS, policy } from './connect-fixtures.js'

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

t.test('an idle tunnel is torn down after the idle timeout and recorded as a timeout', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS, limits: { idleTimeoutMs: 300 } })
  const tunnel = await openTunnel(t, port, `origin.test:${echo.port}`)
  tunnel.socket.write('once')
  await readBytes(tunnel.socket, 4)
  const started = Date.now()
  await readAll(tunnel.socket)
  t.ok(Date.now() - started < 2_000, 'the proxy closed the idle tunnel')
  t.match(await records.waitForCloses(1), [{ 'guarded.outcome': 'timeout' }])
  const silent = await openTunnel(t, port, `origin.test:${echo.port}`)
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
      const tunnel = await openTunnel(t, port, `origin.test:${origin.port}`)
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
t.test('a tunnel stays open past the header and keep-alive timeouts, and closes once', async (t) => {
  const echo = await startEchoOrigin(t)
  const { port, records } = await startStack(t, { policy: policy(), resolve: PINS, limits: { headersTimeoutMs: 200, keepAliveTimeoutMs: 200 } })
  const tunnel = await openTunnel(t, port, `origin.test:${echo.port}`)
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
