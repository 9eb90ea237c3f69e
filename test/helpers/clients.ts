/** Real clients for the proxy suites: curl as a child process, and a raw CONNECT tunnel over `net`. */
import { spawn } from 'node:child_process'
import type { Socket } from 'node:net'
import { openSocket, parseResponse, type RawResponse } from './raw-client.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** What curl printed and how it exited. */
export interface CurlResult {
  readonly code: number | null
  readonly stdout: Buffer
  readonly stderr: string
}

/** Environment without any proxy variables, so only the flags we pass choose the proxy. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!/_proxy$/i.test(key)) env[key] = value
  return env
}

/** Runs curl with `args` (never touching a network outside what the args name) and collects its output. */
export function curl(args: readonly string[], stdin?: Buffer): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['--silent', '--show-error', '--max-time', '20', ...args], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }))
    child.stdin.end(stdin)
  })
}

/** A CONNECT tunnel opened over a raw socket: the proxy's answer, and the socket for what follows. */
export interface RawTunnel {
  readonly socket: Socket
  readonly response: RawResponse
  /** Bytes that arrived after the response head (the origin may already have answered `head`). */
  readonly rest: Buffer
}

/**
 * Sends `CONNECT target` (plus `head`, in the same write, when given) and waits for the response head.
 * The socket is destroyed at teardown; a refusal's body is in `response.body` once the proxy closed.
 */
export async function openTunnel(t: Teardown, port: number, target: string, head?: Buffer | string): Promise<RawTunnel> {
  const socket = await openSocket(port)
  t.teardown(() => socket.destroy())
  const request = Buffer.concat([Buffer.from(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`, 'latin1'), Buffer.from(head ?? '')])
  socket.write(request)
  let received = Buffer.alloc(0)
  const headEnd = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk])
      const end = received.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.off('data', onData)
      resolve(end + 4)
    }
    socket.on('data', onData)
    socket.once('close', () => reject(new Error(`the proxy closed before a response head: ${JSON.stringify(received.toString('latin1'))}`)))
  })
  socket.pause()
  const status = parseResponse(received.subarray(0, headEnd).toString('latin1'))
  if (status.status !== 200) {
    // A refusal: the proxy writes the body and closes; collect it.
    const body = await readAll(socket, received.subarray(headEnd))
    return { socket, response: { ...status, body: body.toString('latin1'), raw: status.raw + body.toString('latin1') }, rest: Buffer.alloc(0) }
  }
  return { socket, response: status, rest: received.subarray(headEnd) }
}

/** Reads until the peer closes. */
export function readAll(socket: Socket, already: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks = [already]
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.once('close', () => resolve(Buffer.concat(chunks)))
    socket.resume()
  })
}

/** Reads until at least `n` bytes arrived (after `already`), or rejects after `timeoutMs`. */
export function readBytes(socket: Socket, n: number, already: Buffer = Buffer.alloc(0), timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let data = already
    const finish = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.pause()
      resolve(data)
    }
    const onData = (c: Buffer): void => {
      data = Buffer.concat([data, c])
      if (data.length >= n) finish()
    }
    const timer = setTimeout(() => {
      socket.off('data', onData)
      reject(new Error(`expected ${n} bytes, got ${data.length}`))
    }, timeoutMs)
    if (data.length >= n) return finish()
    socket.on('data', onData)
    socket.resume()
  })
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return typeof address === 'object' && address ? address.port : 0
}
