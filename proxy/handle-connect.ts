/**
 * A `CONNECT host:port` tunnel, from request line to close.
 *
 * One `Tunnel` per connection moves through its phases: admitting (policy, approval, address check),
 * connecting (to the one address that was checked), first-bytes (no client byte reaches the destination
 * before the ClientHello names it: check-client-hello.ts), open (bytes both ways, half-close passed on:
 * tunnel.ts), and done (the close record is out). Its two sockets carry it, and the listeners below are
 * shared by every tunnel and find theirs from `this`. A chain of async stages, each adding and removing
 * listener closures of its own, cost about a tenth more CPU per tunnel for the same work (issue 2's
 * CONNECT rate).
 */
import type { IncomingMessage } from 'node:http'
import { connect, type NetConnectOpts, type Socket } from 'node:net'
import { needsInspection } from '../policy/decide-request.js'
import type { ReasonCode } from '../policy/reasons.js'
import { admit, type Admission } from './admit.js'
import { attachSession, type ListenerInfo } from './attach-session.js'
import { checkClientHello } from './check-client-hello.js'
import { clientGone } from './client-gone.js'
import type { ProxyContext } from './context.js'
import { after, type Deadline } from './deadline.js'
import { UpstreamError } from './errors.js'
import { forwardReads, type ForwardedReads } from './forward-reads.js'
import { nodeIdleTimer } from './idle-limit.js'
import { inspectTunnel } from './inspect-tunnel.js'
import { parseConnectTarget } from './parse-target.js'
import { CLIENT_HELLO_MAX_BYTES, readClientHello } from './read-client-hello.js'
import { openRecord } from './record.js'
import { refuseRecord, refuseRecordWithError, toSocket, type RefusalWriter } from './refuse-record.js'
import type { RefusalContext } from './refuse.js'
import type { Inspector } from './tls-inspection.js'
import { refuseOpenTunnel } from './tls-refuse-tunnel.js'
import { carry, passClientEnd, passUpstreamEnd, sideClosed, startCarrying, teardown, TUNNEL, Tunnel, type TunnelSocket } from './tunnel.js'

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n'
/** Where a ClientHello is required when the policy names no `tls_ports`. */
const DEFAULT_TLS_PORTS: readonly number[] = [443]
/** What the handler reads of a CONNECT request: Node's IncomingMessage, or the head read-connect-head.ts took. */
export type ConnectRequest = Pick<IncomingMessage, 'url' | 'headers'>

/**
 * Serves one CONNECT request on its client socket; `finished` runs once its close record is out. `idle`
 * is the connection's idle limit when the proxy read the head itself (create-proxy-server.ts); a socket
 * that came through Node's parser has Node's timer, which emits the same 'timeout'.
 */
export function handleConnect(req: ConnectRequest, socket: Socket, head: Buffer, ctx: ProxyContext, listener: ListenerInfo, idle: Deadline | undefined, finished: () => void): void {
  const client = socket as TunnelSocket
  const record = openRecord('connect', client.remoteAddress ?? '', ctx.defaultSessionId)
  record.method = 'CONNECT'
  const tunnel = new Tunnel(client, record, ctx, head, idle, finished)
  client[TUNNEL] = tunnel
  client.pause() // nothing is read until the tunnel waits for the first bytes
  client.on('data', onClientData).on('end', onClientEnd).on('close', onClientClose).on('error', onClientError).on('timeout', onClientTimeout)
  try {
    record.destination = parseConnectTarget(req.url ?? '')
    const unidentified = attachSession(record, req, listener, ctx)
    if (unidentified) return refuse(tunnel, 'auth-required', { detail: unidentified })
    const admission = admit(record, ctx, clientGone(client))
    if (admission instanceof Promise) admission.then((settled) => admitted(tunnel, settled), (err: unknown) => fail(tunnel, err))
    else admitted(tunnel, admission)
  } catch (err) {
    fail(tunnel, err)
  }
}

function admitted(t: Tunnel, admission: Admission): void {
  if (!admission.ok) return refuse(t, admission.reason, admission.context)
  const { ctx, record, client } = t
  const destination = record.destination!
  const inspector = ctx.inspection?.current()
  if (inspector && needsInspection(ctx.policy.current, destination)) return inspect(t, admission.address, inspector)
  // An unreachable upstream is an allowed tunnel that failed: the decision says allow, the close says why.
  if (client.destroyed) return allowThenFail(t, clientWentAway())
  t.phase = 'connecting'
  t.reads = forwardReads(client, t.idle)
  const upstream: TunnelSocket = connect(upstreamOptions(admission.address, destination.port, t.reads.onread))
  upstream[TUNNEL] = t
  t.upstream = upstream
  upstream.on('connect', onUpstreamConnect).on('error', onUpstreamError).on('end', onUpstreamEnd).on('close', onUpstreamClose)
  t.limit = after(ctx.limits.connectTimeoutMs, connectTimedOut, t)
}

/**
 * net.Socket copies its options and adds `allowHalfOpen`, `emitClose`, `autoDestroy` and `decodeStrings`
 * to the copy. On Node 20 (V8 11.3) a copy of a non-empty object that then grows gets a shape of its own
 * every time, so each read of it in the socket's and its streams' constructors misses V8's caches: about
 * 20 µs per socket. Given all four, with the values net sets anyway, the copy only overwrites them and
 * keeps one shape: the socket is built in about 5 µs, and a tunnel takes 0.91 of the CPU (issue 2).
 */
function upstreamOptions(host: string, port: number, onread: ForwardedReads['onread']): NetConnectOpts {
  // Named before it is returned: the three stream keys are not in NetConnectOpts, and a returned literal would be refused for them.
  const options = { host, port, noDelay: true, onread, allowHalfOpen: false, emitClose: false, autoDestroy: true, decodeStrings: false }
  return options
}

function connectTimedOut(t: Tunnel): void {
  allowThenFail(t, new UpstreamError('GUARDED_UPSTREAM_TIMEOUT', `connecting to ${t.record.peerAddress}:${t.record.destination!.port} took longer than ${t.ctx.limits.connectTimeoutMs} ms`))
}

/** TLS inspection reads the client socket itself; the tunnel's listeners step aside. */
function inspect(t: Tunnel, address: string, inspector: Inspector): void {
  t.phase = 'inspecting'
  const { client, ctx } = t
  client.off('data', onClientData).off('end', onClientEnd).off('close', onClientClose).off('error', onClientError).off('timeout', onClientTimeout)
  // It could not mark `idle` active, so Node's timer takes over (a socket from Node's parser has it already).
  const socket = t.idle ? nodeIdleTimer(client, ctx.limits.idleTimeoutMs, t.idle) : client
  inspectTunnel(socket, t.first, t.record, address, ctx, inspector).then(() => t.finish(), (err: unknown) => fail(t, err))
}

function onUpstreamConnect(this: TunnelSocket): void {
  const t = this[TUNNEL]!
  if (t.phase !== 'connecting') return
  t.limit?.cancel()
  t.client.write(ESTABLISHED)
  t.reads!.start(this) // the upstream's bytes flow from here on, so server-speaks-first protocols work
  t.phase = 'first-bytes'
  t.hello = readClientHello(t.first)
  if (t.first.length > 0 && t.hello.kind !== 'need-more') return firstBytesRead(t, false)
  // A client that half-closed while its tunnel was being set up will send nothing more.
  if (t.clientEnded) return firstBytesRead(t, true)
  t.limit = after(t.ctx.limits.headersTimeoutMs, firstBytesTimedOut, t)
  t.client.resume()
}

function firstBytesTimedOut(t: Tunnel): void {
  firstBytesRead(t, false)
}

/** The first bytes are a verdict (hello, not TLS, malformed), their wait ran out, or a side closed (`closed`). */
function firstBytesRead(t: Tunnel, closed: boolean): void {
  if (t.phase !== 'first-bytes') return
  t.limit?.cancel()
  const { client, record } = t
  const upstream = t.upstream!
  const destination = record.destination!
  const seen = { hello: t.hello!, length: t.first.length }
  const check = checkClientHello(seen, destination, (t.ctx.policy.current.tlsPorts ?? DEFAULT_TLS_PORTS).includes(destination.port))
  if (!check.ok && !closed) {
    upstream.destroy()
    return refuse(t, check.reason, { destination, detail: check.detail }, refuseOpenTunnel(client, seen, check.reason))
  }
  t.allow()
  if (closed) return closedEarly(t)
  startCarrying(t)
}

/** A side closed while the first bytes were awaited: end the client after what the upstream sent, and record the short tunnel. */
function closedEarly(t: Tunnel): void {
  const upstream = t.upstream!
  const outcome = t.timedOut ? 'timeout' : upstream.destroyed || upstream.readableEnded ? 'upstream-closed' : 'client-closed'
  t.finishCarried(outcome) // the byte counts are read before the upstream is destroyed
  upstream.destroy()
  t.client.end()
}

function onClientData(this: TunnelSocket, chunk: Buffer): void {
  const t = this[TUNNEL]!
  if (t.phase === 'open') carry(t, chunk)
  else if (t.phase === 'first-bytes') {
    t.first = t.first.length === 0 ? chunk : Buffer.concat([t.first, chunk])
    t.hello = readClientHello(t.first) // a ClientHello is parsed once per chunk
    if (t.hello.kind !== 'need-more' || t.first.length > CLIENT_HELLO_MAX_BYTES) firstBytesRead(t, false)
  }
  // Before: the client is paused. After (a refusal going out): what it still sends is dropped.
}

function onClientEnd(this: TunnelSocket): void {
  const t = this[TUNNEL]!
  t.clientEnded = true
  if (t.phase === 'first-bytes') return firstBytesRead(t, true)
  if (t.phase === 'open') passClientEnd(t) // otherwise passed on once the tunnel opens
}

function onUpstreamEnd(this: TunnelSocket): void {
  const t = this[TUNNEL]!
  t.upstreamEnded = true
  if (t.phase === 'open') passUpstreamEnd(t) // otherwise passed on once the tunnel opens
}

function onClientClose(this: TunnelSocket): void {
  const t = this[TUNNEL]!
  if (t.phase === 'connecting') return allowThenFail(t, clientWentAway())
  if (t.phase === 'first-bytes') return firstBytesRead(t, true)
  if (t.phase === 'open') sideClosed(t, 'client')
}

function onUpstreamClose(this: TunnelSocket): void {
  const t = this[TUNNEL]!
  if (t.phase === 'first-bytes') return firstBytesRead(t, true)
  if (t.phase === 'open') sideClosed(t, 'upstream')
}

function onClientError(this: TunnelSocket, err: NodeJS.ErrnoException): void {
  const t = this[TUNNEL]!
  if (t.phase === 'open') teardown(t, 'client-closed', err) // otherwise its 'close' follows, and is handled there
}

function onUpstreamError(this: TunnelSocket, err: NodeJS.ErrnoException): void {
  const t = this[TUNNEL]!
  if (t.phase === 'open') return teardown(t, 'upstream-error', err)
  if (t.phase !== 'connecting') return
  const destination = t.record.destination!
  allowThenFail(t, new UpstreamError('GUARDED_UPSTREAM_UNREACHABLE', `connecting to ${t.record.peerAddress}:${destination.port} failed: ${err.code ?? err.message}`))
}

/** The client connection's idle limit fired; its socket is destroyed next. */
function onClientTimeout(this: TunnelSocket): void {
  const t = this[TUNNEL]!
  t.timedOut = true
  if (t.phase === 'open') teardown(t, 'timeout')
}

/** A client gone before its upstream connected: the policy allowed it, so it is recorded as a failed upstream. */
function clientWentAway(): UpstreamError {
  return new UpstreamError('GUARDED_UPSTREAM_UNREACHABLE', 'the client went away before the upstream connected')
}

function allowThenFail(t: Tunnel, err: UpstreamError): void {
  t.upstream?.destroy()
  t.allow()
  fail(t, err)
}

function refuse(t: Tunnel, reason: ReasonCode, context: RefusalContext, write: RefusalWriter = toSocket(t.client)): void {
  refuseRecord(write, t.record, t.ctx, reason, context)
  t.finish()
}

/** A thrown error or a failed upstream: the refusal it maps to, once (a tunnel already done stays as it was). */
function fail(t: Tunnel, err: unknown): void {
  if (t.phase === 'done') return
  refuseRecordWithError(toSocket(t.client), t.record, t.ctx, err)
  t.finish()
}

