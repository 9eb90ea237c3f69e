// `--proxy URL`: the sandbox's forwarder speaks to a Unix socket, so a running
// proxy's TCP address is reached through this pass-through relay. It adds no
// credentials (a CONNECT stream cannot be rewritten transparently); the agent's
// HTTP_PROXY carries them instead, and so they are visible inside the sandbox.
import { connect, createServer, type Server, type Socket } from 'node:net'

/** A listening relay. */
export interface ProxyRelay {
  readonly socket: string
  /** Stop listening and cut every relayed connection. */
  close(): Promise<void>
}

/** Listen on the Unix socket `socket` and pipe each connection to `host:port`. */
export async function startProxyRelay(socket: string, host: string, port: number): Promise<ProxyRelay> {
  const open = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (client) => relay(client, host, port, open))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socket, () => { server.off('error', reject); resolve() })
  })
  return { socket, close: () => closeRelay(server, open) }
}

function relay(client: Socket, host: string, port: number, open: Set<Socket>): void {
  const upstream = connect({ host, port, allowHalfOpen: true })
  for (const s of [client, upstream]) {
    open.add(s)
    s.once('close', () => open.delete(s))
    s.on('error', () => { client.destroy(); upstream.destroy() })
  }
  client.pipe(upstream)
  upstream.pipe(client)
}

function closeRelay(server: Server, open: Set<Socket>): Promise<void> {
  for (const s of open) s.destroy()
  return new Promise((resolve) => server.close(() => resolve()))
}
