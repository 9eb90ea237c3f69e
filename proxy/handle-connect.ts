/** A `CONNECT host:port` tunnel, from request line to close, read top to bottom. */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { needsInspection } from '../policy/decide-request.js'
import { admit } from './admit.js'
import { clientGone } from './client-gone.js'
import { attachSession, type ListenerInfo } from './attach-session.js'
import { checkClientHello } from './check-client-hello.js'
import { connectTo } from './connect-to.js'
import type { Deadline } from './deadline.js'
import { nodeIdleTimer } from './idle-limit.js'
import { forwardReads } from './forward-reads.js'
import type { ProxyContext } from './context.js'
import { parseConnectTarget } from './parse-target.js'
import { pipe } from './pipe.js'
import { emitClose, emitDecision, openRecord, type ConnectionRecord } from './record.js'
import { refuseRecord, refuseRecordWithError, toSocket } from './refuse-record.js'
import { inspectTunnel } from './inspect-tunnel.js'
import { readFirstBytes } from './tls-first-bytes.js'
import { refuseOpenTunnel } from './tls-refuse-tunnel.js'

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n'

/** What the handler reads of a CONNECT request: Node's IncomingMessage, or the head read-connect-head.ts took. */
export type ConnectRequest = Pick<IncomingMessage, 'url' | 'headers'>

/**
 * Serves one CONNECT request on its client socket. `idle` is the connection's idle limit when the proxy
 * read the head itself (create-proxy-server.ts); a socket that came through Node's parser has Node's timer.
 */
export async function handleConnect(req: ConnectRequest, socket: Duplex, head: Buffer, ctx: ProxyContext, listener: ListenerInfo, idle?: Deadline): Promise<void> {
  const record = openRecord('connect', (socket as Partial<Socket>).remoteAddress ?? '', ctx.defaultSessionId)
  record.method = 'CONNECT'
  const refuseWith = toSocket(socket)
  const aborted = clientGone(socket)
  try {
    record.destination = parseConnectTarget(req.url ?? '')
    const unidentified = attachSession(record, req, listener, ctx)
    if (unidentified) return refuseRecord(refuseWith, record, ctx, 'auth-required', { detail: unidentified })
    const admission = await admit(record, ctx, aborted)
    if (!admission.ok) return refuseRecord(refuseWith, record, ctx, admission.reason, admission.context)
    const inspector = ctx.inspection?.current()
    if (inspector && needsInspection(ctx.policy.current, record.destination)) return await inspectTunnel(handOver(socket, idle, ctx), head, record, admission.address, ctx, inspector)
    const allow = (): void => void emitDecision(ctx.events, record, 'allow', record.decision?.reason ?? 'allowed')
    // An unreachable upstream is an allowed tunnel that failed: the decision says allow, the close says why.
    const reads = forwardReads(socket, idle)
    const upstream = await connectTo(admission.address, record.destination.port, ctx.limits.connectTimeoutMs, socket, reads.onread).catch((err: unknown) => (allow(), Promise.reject(err)))
    socket.write(ESTABLISHED)
    reads.start(upstream) // the upstream's bytes flow from here on, so server-speaks-first protocols work
    // No client byte reaches the destination before the ClientHello names it (check-client-hello.ts: what that stops).
    const timedOut = idleWatch(socket)
    const first = await readFirstBytes(socket, head, ctx.limits.headersTimeoutMs, upstream)
    const hello = checkClientHello(first, record.destination, (ctx.policy.current.tlsPorts ?? [443]).includes(record.destination.port))
    if (!hello.ok && !first.closed) return (upstream.destroy(), refuseRecord(refuseOpenTunnel(socket, first, hello.reason), record, ctx, hello.reason, { destination: record.destination, detail: hello.detail }))
    allow()
    if (first.closed) return closedEarly(socket, upstream, record, timedOut())
    const result = await pipe(socket, upstream, first.bytes, idle)
    Object.assign(record, { bytesSent: result.sent, bytesReceived: result.received, outcome: result.outcome, errorType: result.errorType })
  } catch (err) {
    refuseRecordWithError(refuseWith, record, ctx, err)
  } finally {
    emitClose(ctx.events, record)
  }
}

/** A side closed while the first bytes were awaited: end the client after what the upstream sent, and record the short tunnel. */
function closedEarly(socket: Duplex, upstream: Socket, record: ConnectionRecord, idle: boolean): void {
  const outcome = idle ? 'timeout' : upstream.destroyed || upstream.readableEnded ? 'upstream-closed' : 'client-closed'
  Object.assign(record, { bytesSent: upstream.bytesWritten, bytesReceived: upstream.bytesRead, outcome })
  upstream.destroy()
  socket.end()
}


/**
 * TLS inspection reads the client socket out of our sight, so it could not mark `idle` active: Node's
 * timer takes over. A socket that came through Node's parser (no `idle`) has that timer already.
 */
function handOver(socket: Duplex, idle: Deadline | undefined, ctx: ProxyContext): Duplex {
  // A socket the proxy read itself is always a net.Socket.
  return idle ? nodeIdleTimer(socket as Socket, ctx.limits.idleTimeoutMs, idle) : socket
}

/** Whether the client connection's idle limit fired (it emits 'timeout', then destroys the socket). */
function idleWatch(socket: Duplex): () => boolean {
  let fired = false
  socket.once('timeout', () => (fired = true))
  return () => fired
}
