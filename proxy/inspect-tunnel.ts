/**
 * A CONNECT whose host has inspecting rules: answered with `200`, its ClientHello checked like an opaque
 * tunnel's, then terminated with a leaf minted for the CONNECT target (only `http/1.1` offered in ALPN) and
 * read request by request.
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { TLSSocket } from 'node:tls'
import { checkClientHello } from './check-client-hello.js'
import type { ProxyContext } from './context.js'
import { emitDecision, type ConnectionRecord } from './record.js'
import { refuseRecord } from './refuse-record.js'
import { readFirstBytes } from './tls-first-bytes.js'
import type { Inspector } from './tls-inspection.js'
import { refuseOpenTunnel } from './tls-refuse-tunnel.js'

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n'

/** Serves an admitted CONNECT by terminating it; resolves when the tunnel is closed, with the record filled in. */
export async function inspectTunnel(socket: Duplex, head: Buffer, record: ConnectionRecord, address: string, ctx: ProxyContext, inspector: Inspector): Promise<void> {
  const destination = record.destination!
  const leaf = inspector.leaves.get(destination.host, destination.kind) // minted while the client sends its hello
  leaf.catch(() => undefined) // awaited below; a failure must not surface as an unhandled rejection first
  socket.write(ESTABLISHED)
  const first = await readFirstBytes(socket, head, ctx.limits.headersTimeoutMs)
  if (first.closed) return void (emitDecision(ctx.events, record, 'allow', record.decision?.reason ?? 'allowed'), (record.outcome = 'client-closed'))
  const check = checkClientHello(first, destination, true)
  if (!check.ok) return refuseRecord(refuseOpenTunnel(socket, first, check.reason), record, ctx, check.reason, { destination, detail: check.detail })
  emitDecision(ctx.events, record, 'allow', record.decision?.reason ?? 'allowed')
  const { context } = await leaf
  socket.unshift(first.bytes) // the TLS socket reads what is already buffered before the wire
  const tls = new TLSSocket(socket as Socket, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] })
  await served(tls, record, socket as Socket, () => inspector.serve(tls, { ctx, connect: record, address }))
}

/** Hands the TLS socket to the request server and waits for it to close, recording how the tunnel ended. */
function served(tls: TLSSocket, record: ConnectionRecord, raw: Socket, serve: () => void): Promise<void> {
  return new Promise((resolve) => {
    tls.once('error', (err: NodeJS.ErrnoException) => {
      // e.g. ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: the client does not trust our CA yet (see `guarded-proxy ca show`)
      record.errorType ??= err.code ?? err.name
      tls.destroy()
    })
    let done = false
    // Whichever closes first ends the tunnel: at shutdown the raw socket is destroyed and its close comes first,
    // and the record must be emitted before the proxy closes its sinks.
    const close = (): void => {
      if (done) return
      done = true
      Object.assign(record, { bytesSent: raw.bytesRead, bytesReceived: raw.bytesWritten, outcome: record.errorType ? 'client-closed' : 'completed' })
      tls.destroy()
      raw.destroy()
      resolve()
    }
    tls.once('close', close)
    raw.once('close', close)
    serve()
  })
}
