/**
 * A CONNECT tunnel's state, and how an open tunnel carries bytes both ways until both sides are done.
 * handle-connect.ts moves the tunnel through its phases; from 'open' on, the functions here do the work:
 * the client's bytes go upstream with back-pressure (the upstream's flow to the client through
 * forward-reads.ts), a half-close is passed on, and a side that closes or fails takes the other with it.
 */
import type { Socket } from 'node:net'
import type { ProxyContext } from './context.js'
import type { Deadline } from './deadline.js'
import type { Outcome } from './events.js'
import type { ForwardedReads } from './forward-reads.js'
import type { ClientHelloResult } from './read-client-hello.js'
import { emitClose, emitDecision, type ConnectionRecord } from './record.js'

/** Where a tunnel's sockets carry it, so listeners shared by every tunnel find theirs from `this`. */
export const TUNNEL = Symbol('guarded.tunnel')

export type Phase = 'admitting' | 'connecting' | 'first-bytes' | 'open' | 'inspecting' | 'done'

/** A tunnel's socket, carrying its tunnel. */
export interface TunnelSocket extends Socket {
  [TUNNEL]?: Tunnel
}

const EMPTY = Buffer.alloc(0)

export class Tunnel {
  phase: Phase = 'admitting'
  upstream: TunnelSocket | undefined = undefined
  reads: ForwardedReads | undefined = undefined
  /** The connect timeout, then the wait for the first bytes. */
  limit: Deadline | undefined = undefined
  /** Client bytes held back until the ClientHello check passes: what came with the CONNECT, then what followed. */
  first: Buffer
  hello: ClientHelloResult | undefined = undefined
  clientEnded = false
  upstreamEnded = false
  /** The client connection's idle limit fired. */
  timedOut = false
  /** Sockets not yet closed once the tunnel is open; the close record goes out when both are. */
  open = 2
  outcome: Outcome | undefined = undefined
  errorType: string | undefined = undefined

  constructor(
    readonly client: TunnelSocket,
    readonly record: ConnectionRecord,
    readonly ctx: ProxyContext,
    head: Buffer,
    /** The client connection's idle limit when the proxy watches it; marked active as bytes move. */
    readonly idle: Deadline | undefined,
    /** Runs once, after the close record is out. */
    private readonly finished: () => void,
  ) {
    this.first = head
  }

  /** Emits the allow decision (once: record.ts keeps a second from going out). */
  allow(): void {
    emitDecision(this.ctx.events, this.record, 'allow', this.record.decision?.reason ?? 'allowed')
  }

  /** Fills the record with the bytes the upstream carried and how the tunnel ended, then emits it. */
  finishCarried(outcome: Outcome): void {
    const upstream = this.upstream!
    this.record.bytesSent = upstream.bytesWritten
    this.record.bytesReceived = upstream.bytesRead
    this.record.outcome = outcome
    if (this.errorType) this.record.errorType = this.errorType
    this.finish()
  }

  /** Emits the close record, once. */
  finish(): void {
    if (this.phase === 'done') return
    this.phase = 'done'
    this.limit?.cancel()
    emitClose(this.ctx.events, this.record)
    this.finished()
  }
}

/** Opens the tunnel: the held-back first bytes go upstream, then any half-close that came while they were awaited. */
export function startCarrying(t: Tunnel): void {
  t.phase = 'open'
  if (t.first.length > 0) t.upstream!.write(t.first)
  t.first = EMPTY
  if (t.clientEnded) passClientEnd(t)
  if (t.upstreamEnded) passUpstreamEnd(t)
  t.client.resume()
}

/** The client's bytes, upstream; a slow upstream pauses the client instead of filling memory. */
export function carry(t: Tunnel, chunk: Buffer): void {
  if (t.idle) t.idle.active = true
  if (t.upstream!.write(chunk)) return
  t.client.pause() // until the upstream's kernel buffer has room again
  t.upstream!.once('drain', onUpstreamDrain)
}

function onUpstreamDrain(this: TunnelSocket): void {
  const t = this[TUNNEL]!
  if (t.idle) t.idle.active = true
  t.client.resume()
}

export function passClientEnd(t: Tunnel): void {
  t.outcome ??= 'client-closed'
  // The upstream may have ended itself already (an origin that closes first: net's allowHalfOpen is off),
  // and end() on an ended stream builds an error with a stack trace only to drop it.
  if (!t.upstream!.writableEnded) t.upstream!.end() // after every byte already written to it
}

export function passUpstreamEnd(t: Tunnel): void {
  t.outcome ??= 'upstream-closed'
  if (!t.client.writableEnded) t.client.end()
}

/**
 * One side closed. A side that closes without ending (destroyed at shutdown, or by a limit) takes the
 * other with it; once both are closed, the record gets its bytes and outcome and goes out.
 */
export function sideClosed(t: Tunnel, side: 'client' | 'upstream'): void {
  if (!(side === 'client' ? t.clientEnded : t.upstreamEnded)) teardown(t, side === 'client' ? 'client-closed' : 'upstream-closed')
  if (--t.open > 0) return
  t.finishCarried(t.outcome ?? 'completed')
}

/** Ends both sides at once: an error, the idle limit, or a side gone. The first reason given is the outcome. */
export function teardown(t: Tunnel, why: Outcome, err?: NodeJS.ErrnoException): void {
  t.outcome ??= why
  if (err && !t.errorType) t.errorType = err.code ?? err.name
  t.client.destroy()
  t.upstream!.destroy()
}
