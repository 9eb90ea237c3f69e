/**
 * The proxy listener: each kind of request handed to its handler. A connection's first read is taken by
 * client-connection.ts: a plain CONNECT head goes straight to the tunnel handler, anything else to Node's
 * HTTP parser.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ListenerInfo } from './attach-session.js'
import type { ProxyContext } from './context.js'
import type { HttpForwarder } from './forward-http.js'
import { acceptConnection, requestTimeout, type Routes } from './client-connection.js'
import type { Deadline } from './deadline.js'
import { handleConnect } from './handle-connect.js'
import { handleRequest } from './handle-request.js'
import { handleUpgrade } from './handle-upgrade.js'
import { nodeIdleTimer } from './idle-limit.js'
import { OpenSockets } from './open-sockets.js'
import { emitClose, emitDecision, openRecord } from './record.js'
import { renderRefusal, writeRefusalToSocket } from './refuse.js'

/** A proxy server plus its open client sockets (for limits and draining). */
export interface ProxyServer {
  readonly server: Server
  readonly sockets: Pick<OpenSockets, 'size' | 'destroyAll'>
  /** Resolves once every handler has finished, so its close record is out before the sinks close. */
  settled(): Promise<void>
}

/** Creates the HTTP server that serves CONNECT, absolute-form requests and WebSocket upgrades. */
export function createProxyServer(ctx: ProxyContext, forwarder: HttpForwarder, listener: ListenerInfo = {}): ProxyServer {
  const { limits } = ctx
  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: 0, // bodies stream for as long as bytes keep moving; idleness is limited per socket instead
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    noDelay: true,
  })
  const sockets = new OpenSockets()
  // Sockets turned away at the limit: Node's parser is already attached, so every handler checks this
  // set and ignores what the parser still hands over (the socket is already ending with its 503).
  const refused = new WeakSet<object>()
  const served = (req: IncomingMessage): boolean => !refused.has(req.socket)
  const handlers = trackHandlers()
  // Node's own 'connection' listener attaches its HTTP parser; ours decides first whether it is needed.
  const [httpConnection] = server.listeners('connection') as ((socket: Socket) => void)[]
  if (!httpConnection) throw new Error('node:http registered no connection listener')
  // Node's parser reads the socket out of our sight, so Node's timer watches its idleness.
  const toHttp = (socket: Socket, idle?: Deadline): void => void httpConnection.call(server, nodeIdleTimer(socket, limits.idleTimeoutMs, idle))
  const routes: Routes = {
    ctx,
    sockets,
    connect: (head, socket, idle) => handleConnect(head, socket, head.rest, ctx, listener, idle, handlers.start()),
    http: toHttp,
  }
  server.removeAllListeners('connection')
  server.on('connection', (socket: Socket) => {
    // A refused socket still gets Node's parser: it reads what the client sent while the 503 goes out,
    // so closing does not reset the connection under the client before it read the refusal.
    if (admitConnection(socket, sockets, refused, ctx)) acceptConnection(socket, routes)
    else toHttp(socket)
  })
  server.on('request', (req, res) => served(req) && handlers.track(handleRequest(req, res, ctx, forwarder, listener)))
  // Without this listener Node answers `Expect: 100-continue` at once, inviting an upload the policy
  // may refuse; the handler sends 100 itself only after the request is admitted.
  server.on('checkContinue', (req, res) => served(req) && handlers.track(handleRequest(req, res, ctx, forwarder, listener)))
  // Node's parser hands over the connection's net.Socket.
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => served(req) && handleConnect(req, socket as Socket, head, ctx, listener, undefined, handlers.start()))
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => served(req) && handlers.track(handleUpgrade(req, socket, head, ctx, forwarder, listener)))
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => refuseMalformed(err, socket, ctx))
  return { server, sockets, settled: handlers.settled }
}

/** Counts handlers in flight: a closed socket's handler still has its close record to emit. */
function trackHandlers(): { start(): () => void; track(work: Promise<void>): void; settled(): Promise<void> } {
  let running = 0
  let waiters: (() => void)[] = []
  const end = (): void => {
    if (--running > 0) return
    waiters.forEach((w) => w())
    waiters = []
  }
  /** Counts one handler in; the function it returns counts it out (call it once). */
  const start = (): (() => void) => (running++, end)
  return {
    start,
    track: (work) => void work.finally(start()),
    settled: () => (running === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve))),
  }
}

/** Turns the connection away with a 503 when the proxy is full; returns whether it was admitted (client-connection.ts counts it). */
function admitConnection(socket: Socket, sockets: OpenSockets, refused: WeakSet<object>, ctx: ProxyContext): boolean {
  socket.on('error', ignoreError) // a reset client must never crash the process; handlers see 'close'
  if (sockets.size >= ctx.limits.maxConnections) {
    refused.add(socket)
    const record = openRecord('connect', socket.remoteAddress ?? '', ctx.defaultSessionId)
    emitDecision(ctx.events, record, 'deny', 'too-many-connections')
    record.outcome = 'refused'
    emitClose(ctx.events, record)
    writeRefusalToSocket(socket, renderRefusal('too-many-connections'))
    return false
  }
  return true
}

function ignoreError(): void {}

/** Bytes Node's parser rejected: a 400 (431 for an oversized head) that says so, and a deny event. */
function refuseMalformed(err: NodeJS.ErrnoException, socket: Duplex, ctx: ProxyContext): void {
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy()
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return requestTimeout(socket)
  const record = openRecord('http', (socket as Socket).remoteAddress ?? '', ctx.defaultSessionId)
  emitDecision(ctx.events, record, 'deny', 'bad-request')
  record.outcome = 'refused'
  record.errorType = err.code ?? 'HPE_INVALID'
  emitClose(ctx.events, record)
  const refusal = renderRefusal('bad-request', { detail: `the request could not be parsed (${err.code ?? err.message})` })
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : refusal.status
  writeRefusalToSocket(socket, { ...refusal, status })
}
