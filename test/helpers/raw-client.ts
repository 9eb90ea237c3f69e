/** Raw sockets for hostile input: real clients normalise or refuse exactly the bytes we need to send. */
import { connect, type Socket } from 'node:net'

/** A parsed response head plus whatever body arrived before the connection closed or went quiet. */
export interface RawResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
  readonly raw: string
}

/** Sends bytes on a fresh connection and reads until close or `quietMs` of silence after the head. */
export async function rawRequest(port: number, bytes: string | Buffer, quietMs = 300): Promise<RawResponse> {
  const socket = await openSocket(port)
  socket.write(bytes)
  const raw = await readUntilQuiet(socket, quietMs)
  socket.destroy()
  return parseResponse(raw)
}

/** Opens a TCP connection to 127.0.0.1:port. */
export function openSocket(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Collects bytes until the peer closes, or nothing arrives for `quietMs` once something has. */
export function readUntilQuiet(socket: Socket, quietMs: number, maxMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    let data = ''
    let timer: NodeJS.Timeout | undefined
    const done = (): void => {
      clearTimeout(timer)
      clearTimeout(limit)
      socket.removeAllListeners('data')
      resolve(data)
    }
    const limit = setTimeout(done, maxMs)
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1')
      clearTimeout(timer)
      timer = setTimeout(done, quietMs)
    })
    socket.once('close', done)
    socket.once('error', done)
  })
}

/** Parses the first response head in `raw`. */
export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  const head = end >= 0 ? raw.slice(0, end) : raw
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: end >= 0 ? raw.slice(end + 4) : '', raw }
}
