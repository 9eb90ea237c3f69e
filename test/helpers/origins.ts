/** Origins started inside a test on 127.0.0.1, port 0, closed at teardown. */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { spawn } from 'node:child_process'
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net'

/** What a test needs from an origin: where it is and what it saw. */
export interface HttpOrigin {
  readonly port: number
  /** Requests as the origin received them (method, url, headers, body). */
  readonly seen: { method: string; url: string; headers: IncomingMessage['headers']; rawHeaders: string[]; body: string }[]
  url(path: string, host?: string): string
}

interface Teardown {
  teardown(fn: () => unknown): void
}

/** An HTTP origin that answers `origin saw METHOD URL` (or streams `/bytes/N`), and echoes WebSocket-style upgrades. */
export async function startHttpOrigin(t: Teardown): Promise<HttpOrigin> {
  const seen: HttpOrigin['seen'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString()
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body })
      const bytes = /^\/bytes\/(\d+)$/.exec(req.url ?? '')
      if (bytes) return streamBytes(res, Number(bytes[1]))
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'x-origin-hop', 'x-origin-hop': 'secret' })
      res.end(`origin saw ${req.method} ${req.url} ${body.length}`)
    })
  })
  server.on('upgrade', (req, socket: Socket, head) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '' })
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n')
    if (head.length) socket.write(head)
    socket.pipe(socket)
  })
  const port = await listenOn(server, t)
  return { port, seen, url: (path, host = '127.0.0.1') => `http://${host}:${port}${path}` }
}

function streamBytes(res: import('node:http').ServerResponse, n: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n })
  const chunk = Buffer.alloc(64 * 1024, 97)
  let left = n
  const write = (): void => {
    while (left > 0) {
      const piece = chunk.subarray(0, Math.min(left, chunk.length))
      left -= piece.length
      if (!res.write(piece)) return void res.once('drain', write)
    }
    res.end()
  }
  write()
}

/** A TCP echo origin (what a tunnel carries is opaque to the proxy). */
export async function startEchoOrigin(t: Teardown): Promise<{ port: number; connections: number }> {
  const state = { port: 0, connections: 0 }
  const server = createTcpServer((socket) => {
    state.connections++
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  state.port = await listenOn(server, t)
  return state
}

/**
 * A port on 127.0.0.1 where a connect hangs: the SYN goes unanswered, as with a firewall that drops it.
 * A listener that never accepts (Node's servers accept by themselves, so a python3 child holds it) has a
 * one-connection accept queue, filled here; the kernel drops every SYN after that.
 */
export async function startSilentOrigin(t: Teardown): Promise<number> {
  const holder = spawn('python3', ['-c', "import socket, sys\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen(0)\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()"], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => holder.kill())
  const port = await new Promise<number>((resolve, reject) => {
    holder.once('error', reject)
    holder.stdout.once('data', (line: Buffer) => resolve(Number(String(line).trim())))
  })
  const filler = connect(port, '127.0.0.1')
  t.teardown(() => filler.destroy())
  await new Promise<void>((resolve, reject) => filler.once('connect', resolve).once('error', reject))
  return port
}

/** Listens on 127.0.0.1:0 and registers a teardown that also drops open connections. */
export async function listenOn(server: Server | TcpServer, t: Teardown): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  t.teardown(() => sockets.forEach((s) => s.destroy()))
  return (server.address() as AddressInfo).port
}
