/** Plain-HTTP forwarding with http-proxy, always to the address that was checked, never re-resolved. */
import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import httpProxy from 'http-proxy'
import { UpstreamError } from './errors.js'
import type { Outcome } from './events.js'
import { stripHopByHop } from './hop-by-hop.js'
import type { Limits } from './options.js'
import { renderRefusal, writeRefusalToSocket } from './refuse.js'

/** Body bytes each way and how the exchange ended. */
export interface ForwardResult {
  readonly sent: number
  readonly received: number
  readonly outcome: Outcome
  readonly error?: UpstreamError
}

/** Forwards requests and WebSocket upgrades to checked addresses over a shared keep-alive pool. */
export interface HttpForwarder {
  web(req: IncomingMessage, res: ServerResponse, address: string, port: number): Promise<ForwardResult>
  ws(req: IncomingMessage, socket: Duplex, head: Buffer, address: string, port: number): Promise<ForwardResult>
  close(): void
}

/** Creates the forwarder; one per proxy, so upstream keep-alive connections are reused across clients. */
export function createHttpForwarder(limits: Limits): HttpForwarder {
  // The pool is keyed by the checked address (host:port of the target we pass), never by name.
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', timeout: limits.idleTimeoutMs })
  const proxy = httpProxy.createProxyServer({ agent, xfwd: false, proxyTimeout: limits.idleTimeoutMs, ignorePath: false })
  // A client that hangs up mid-download must not leave us reading the body for nobody.
  proxy.on('proxyReq', (proxyReq, _req, res) => {
    res.once('close', () => {
      if (!res.writableFinished) proxyReq.destroy()
    })
  })
  const received = new WeakMap<IncomingMessage, { bytes: number }>()
  proxy.on('proxyRes', (proxyRes, req, res) => {
    stripHopByHop(proxyRes.headers)
    // http-proxy answers with the client's Connection header, which we stripped; say close when the
    // client asked for it (RFC 9112 §9.6) so the slot is not held open.
    if (!res.shouldKeepAlive) req.headers.connection = 'close'
    const counter = received.get(req)
    if (counter) proxyRes.on('data', (chunk: Buffer) => (counter.bytes += chunk.length))
  })
  return {
    web: (req, res, address, port) =>
      new Promise((resolve) => {
        const counter = { bytes: 0 }
        received.set(req, counter)
        const sent = countBody(req)
        const done = once(resolve)
        res.once('close', () => done(result(sent.bytes, counter.bytes, res.writableFinished)))
        proxy.web(req, res, { target: { host: address, port }, agent: keepingPath(agent, req.url) }, (err) =>
          done(result(sent.bytes, counter.bytes, false, upstreamError(err as NodeJS.ErrnoException, address, port))))
      }),
    ws: (req, socket, head, address, port) =>
      new Promise((resolve) => {
        const done = once(resolve)
        socket.once('close', () => done(result(0, 0, true)))
        proxy.ws(req, socket, head, { target: { host: address, port }, agent: keepingPath(agent, req.url) }, (err) => {
          const error = upstreamError(err as NodeJS.ErrnoException, address, port)
          // http-proxy ends the client socket as soon as this returns, before the handler could explain the
          // failure; so the refusal is written here, unless the origin already answered.
          if ((socket as Socket).bytesWritten === 0) writeRefusalToSocket(socket, renderRefusal(error.reason, { detail: error.message }))
          done(result(0, 0, false, error))
        })
      }),
    close: () => {
      proxy.close()
      agent.destroy()
    },
  }
}

/**
 * http-proxy rebuilds the path (`url.parse`, then a join that collapses `//` and rewrites `http:/`), so
 * `/a//b` would reach the origin as `/a/b`. The agent sees each upstream request before its head is
 * written and puts back the path the client sent. (An `Expect` request's head is written earlier.)
 */
function keepingPath(agent: Agent, path: string | undefined): Agent {
  const perRequest = Object.create(agent) as Agent & { addRequest(request: ClientRequest, options: object): void }
  perRequest.addRequest = (request, options) => {
    if (path !== undefined) request.path = path
    ;(agent as typeof perRequest).addRequest(request, options)
  }
  return perRequest
}

function countBody(req: IncomingMessage): { bytes: number } {
  const counter = { bytes: 0 }
  // Attached after http-proxy has piped the request (web() pipes synchronously), so no data is lost.
  queueMicrotask(() => req.on('data', (chunk: Buffer) => (counter.bytes += chunk.length)))
  return counter
}

/** The first of close and error settles the exchange. */
function once<T>(resolve: (value: T) => void): (value: T) => void {
  let settled = false
  return (value) => {
    if (settled) return
    settled = true
    resolve(value)
  }
}

function result(sent: number, received: number, finished: boolean, error?: UpstreamError): ForwardResult {
  const outcome: Outcome = error ? 'upstream-error' : finished ? 'completed' : 'client-closed'
  return { sent, received, outcome, ...(error && { error }) }
}

function upstreamError(err: NodeJS.ErrnoException, address: string, port: number): UpstreamError {
  const timedOut = err.code === 'ETIMEDOUT' || err.code === 'ESOCKETTIMEDOUT' || /timeout/i.test(err.message)
  return timedOut
    ? new UpstreamError('GUARDED_UPSTREAM_TIMEOUT', `${address}:${port} did not answer in time`)
    : new UpstreamError('GUARDED_UPSTREAM_UNREACHABLE', `forwarding to ${address}:${port} failed: ${err.code ?? err.message}`)
}
