// Carries bytes from 127.0.0.1:PORT inside the sandbox's network namespace to
// the proxy's Unix socket, whose directory is bind-mounted in. The proxy tells
// sessions apart by socket, so no credential has to live in the sandbox.
// sandbox-init runs it in-process; forwarder-cli.ts runs it on its own.
import { connect, createServer, type Server, type Socket } from 'node:net'

/** Listen on `host:port` and pipe every connection to the Unix socket at `socketPath`. Resolves once listening. */
export function startForwarder(socketPath: string, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, (client) => forward(client, socketPath))
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server)
    })
  })
}

function forward(client: Socket, socketPath: string): void {
  const upstream = connect({ path: socketPath, allowHalfOpen: true })
  const destroyBoth = (): void => {
    client.destroy()
    upstream.destroy()
  }
  client.on('error', destroyBoth)
  upstream.on('error', destroyBoth)
  client.pipe(upstream)
  upstream.pipe(client)
}
