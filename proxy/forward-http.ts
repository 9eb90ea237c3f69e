/**
 * Plain-HTTP forwarding, always to the address that was checked, never re-resolved: requests go
 * through undici's keep-alive pools (about 1.4 times the request rate of http-proxy over Node's
 * `http.request`, measured with bench/loadgen.c); WebSocket upgrades go through http-proxy.
 * Both load on first use: most agents only open CONNECT tunnels, and loading them was a sixth of
 * guarded-run's start-up. `serve`, whose start-up nobody waits on, loads undici right after it is ready.
 */
import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Readable, type Duplex } from 'node:stream'
import type Server from 'http-proxy'
import type { Dispatcher } from 'undici'
import { after } from './deadline.js'
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
  /**
   * Loads the request pools now, so the first plain-HTTP request does not wait for undici to load
   * (about 100–200 ms); resolves once they are ready. `serve` calls it once it is listening.
   */
  warm(): Promise<void>
  close(): void
}

/** Creates the forwarder; one per proxy, so upstream keep-alive connections are reused across clients. */
export function createHttpForwarder(limits: Limits): HttpForwarder {
  let closed = false
  // Both pools are keyed by the checked address (the origin we pass), never by name.
  const pools = onFirstUse(async () => {
    // `default` is undici's module.exports, both under Node and in guarded-run's esbuild bundle, whose
    // lazily loaded chunk of a CommonJS module exports nothing else.
    const { Agent: PoolAgent } = (await import('undici')).default
    return new PoolAgent({
      connect: { timeout: limits.connectTimeoutMs },
      headersTimeout: limits.idleTimeoutMs,
      bodyTimeout: limits.idleTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
    })
  })
  const agent = new Agent({ keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo', timeout: limits.idleTimeoutMs })
  const proxy = onFirstUse(async () => {
    const { default: httpProxy } = await import('http-proxy')
    const server = httpProxy.createProxyServer({ agent, xfwd: false, proxyTimeout: limits.idleTimeoutMs, ignorePath: false })
    // http-proxy puts no time limit on a WebSocket's connect: a destination that drops SYNs would hold
    // the client, unanswered and unrecorded, until the kernel gave up (about two minutes).
    server.on('proxyReqWs', (request: ClientRequest) => limitConnect(request, limits.connectTimeoutMs))
    return server
  })
  return {
    web: (req, res, address, port) => {
      const ready = pools.get()
      return ready instanceof Promise ? ready.then((loaded) => forwardRequest(loaded, req, res, address, port)) : forwardRequest(ready, req, res, address, port)
    },
    ws: async (req, socket, head, address, port) => {
      const loaded = await proxy.get()
      return upgrade(loaded, agent, req, socket, head, address, port)
    },
    warm: async () => void (await pools.get()),
    close: () => {
      closed = true
      proxy.ifLoaded()?.close()
      agent.destroy()
      void pools.ifLoaded()?.destroy()
    },
  }

  /** Loads once, on the first call; a pool that finishes loading after close() is closed at once. */
  function onFirstUse<T extends { close(): unknown }>(load: () => Promise<T>): { get(): T | Promise<T>; ifLoaded(): T | undefined } {
    let value: T | undefined
    let loading: Promise<T> | undefined
    return {
      get: () => value ?? (loading ??= load().then((loaded) => {
        if (closed) void loaded.close()
        return (value = loaded)
      })),
      ifLoaded: () => value,
    }
  }
}

/** A WebSocket upgrade through http-proxy; settles when the client socket closes or the upstream failed. */
function upgrade(proxy: Server, agent: Agent, req: IncomingMessage, socket: Duplex, head: Buffer, address: string, port: number): Promise<ForwardResult> {
  return new Promise((resolve) => {
    const done = once(resolve)
    if (socket.destroyed) return done(result(0, 0, false))
    socket.once('close', () => done(result(0, 0, true)))
    proxy.ws(req, socket, head, { target: { host: address, port }, agent: keepingPath(agent, req.url) }, (err) => {
      const error = upstreamError(err as NodeJS.ErrnoException, address, port)
      // http-proxy ends the client socket as soon as this returns, before the handler could explain the
      // failure; so the refusal is written here, unless the origin already answered.
      if ((socket as Socket).bytesWritten === 0) writeRefusalToSocket(socket, renderRefusal(error.reason, { detail: error.message }))
      done(result(0, 0, false, error))
    })
  })
}

/** Fails `request` with a timeout (which upstreamError maps to upstream-timeout) unless its socket connects within `ms`. */
function limitConnect(request: ClientRequest, ms: number): void {
  request.once('socket', (socket: Socket) => {
    if (!socket.connecting) return
    const limit = after(ms, () => request.destroy(Object.assign(new Error(`connecting took longer than ${ms} ms`), { code: 'ETIMEDOUT' })))
    socket.once('connect', () => limit.cancel()).once('close', () => limit.cancel())
  })
}

/**
 * One request, streamed both ways with back-pressure. The request's headers are the client's, already
 * stripped of hop-by-hop fields; its path is exactly what the client sent. Settles when the response is
 * complete, the client went away (the upstream request is aborted then), or the upstream failed.
 */
function forwardRequest(pools: Dispatcher, req: IncomingMessage, res: ServerResponse, address: string, port: number): Promise<ForwardResult> {
  return new Promise((resolve) => {
    const sent = { bytes: 0 }
    let received = 0
    let upstream: Dispatcher.DispatchController | undefined
    const done = once(resolve)
    if (res.destroyed) return done(result(0, 0, false)) // gone while the pool loaded
    const fail = (err: Error): void => {
      const error = upstreamError(err as NodeJS.ErrnoException, address, port)
      // Once the response head is out, the client can only learn of the failure from a cut connection.
      if (res.headersSent) res.destroy()
      done(result(sent.bytes, received, false, error))
    }
    res.once('close', () => {
      done(result(sent.bytes, received, res.writableFinished))
      // Settled first: the abort reports back through onResponseError, and the client left before the origin failed.
      if (!res.writableFinished) upstream?.abort(new Error('the client went away'))
    })
    const origin = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
    const body = hasBody(req) ? Readable.from(counted(req, sent), { objectMode: false }) : null
    pools.dispatch({ origin, path: req.url ?? '/', method: req.method ?? 'GET', headers: req.headers as Record<string, string | string[]>, body }, {
      onRequestStart: (controller) => (upstream = controller),
      onResponseStart: (controller, statusCode, headers, statusMessage) => {
        if (statusCode < 200) return // informational answers (103) describe the origin's connection, not ours
        stripHopByHop(headers)
        res.writeHead(statusCode, statusMessage, headers)
      },
      onResponseData: (controller, chunk) => {
        received += chunk.length
        if (res.write(chunk)) return
        controller.pause()
        res.once('drain', () => controller.resume())
      },
      onResponseEnd: () => void res.end(),
      onResponseError: (_controller, err) => fail(err),
    })
  })
}

/** A body is announced by chunked framing (its header is hop-by-hop, so only the raw headers still have it) or a non-zero Content-Length. */
function hasBody(req: IncomingMessage): boolean {
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.length === 17 && raw[i]?.toLowerCase() === 'transfer-encoding') return true
  const length = req.headers['content-length']
  return length !== undefined && length !== '0'
}

/** The request body, counted as it passes. */
async function* counted(req: IncomingMessage, sent: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of req) {
    sent.bytes += (chunk as Buffer).length
    yield chunk as Buffer
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
