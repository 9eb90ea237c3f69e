// Carries bytes from 127.0.0.1:PORT inside the sandbox's network namespace to
// the proxy's Unix socket, which is bind-mounted in. The proxy tells sessions
// apart by socket, so no credential has to live in the sandbox.
// Runnable as `node dist/launcher/forwarder.js SOCKET PORT`; sandbox-init runs it in-process.
import { connect, createServer, type Server, type Socket } from 'node:net'
import { pathToFileURL } from 'node:url'

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

async function main(argv: readonly string[]): Promise<void> {
  const [socketPath, portText] = argv
  const port = Number(portText)
  if (socketPath === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write('usage: forwarder SOCKET PORT\n')
    process.exit(2)
  }
  const server = await startForwarder(socketPath, port)
  const address = server.address()
  process.stdout.write(`guarded-forwarder listening on 127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}\n`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`guarded-forwarder: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
