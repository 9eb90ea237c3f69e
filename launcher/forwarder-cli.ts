// `node dist/launcher/forwarder-cli.js SOCKET PORT`: the forwarder on its own, for
// trying a proxy socket by hand. An entry point of its own, apart from forwarder.ts,
// so the bundled sandbox-init (which holds the forwarder) never runs it too.
import { startForwarder } from './forwarder.js'

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

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`guarded-forwarder: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
