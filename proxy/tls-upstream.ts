/**
 * Forwards inspected requests with undici, verifying the upstream's real certificate (public roots plus any
 * `--upstream-ca`). Every connection goes to the address the proxy resolved and checked, with SNI and
 * certificate checks on the host name: one pool per (host, address, port), so a re-resolution never slips in.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { createSecureContext, rootCertificates } from 'node:tls'
import { pipeline } from 'node:stream/promises'
import { buildConnector, Pool } from 'undici'
import type { Destination } from '../policy/types.js'
import { GuardedError, UpstreamError } from './errors.js'
import type { Outcome } from './events.js'
import { stripHopByHop } from './hop-by-hop.js'

/** How upstream connections are made. */
export interface UpstreamOptions {
  /** PEM bundle trusted for upstreams on top of the public roots (`--upstream-ca`). */
  readonly extraCa?: string
  readonly connectTimeoutMs: number
  /** Limits waiting for response headers and for each body chunk. */
  readonly idleMs: number
  /** Pools kept at most; the least recently used is closed first. Default 256. */
  readonly maxPools?: number
}

/** One request to send: the checked address, and what goes on the wire. */
export interface UpstreamRequest {
  readonly destination: Destination
  readonly address: string
  readonly method: string
  /** Origin-form path and query, already canonical. */
  readonly path: string
  readonly headers: IncomingHttpHeaders
}

/** Body bytes each way and how the exchange ended. */
export interface UpstreamResult {
  readonly sent: number
  readonly received: number
  readonly outcome: Outcome
}

/** The shared upstream side of inspection. */
export interface UpstreamPools {
  /** Sends `req`'s body upstream and streams the answer into `res`; throws a GuardedError before the answer starts. */
  forward(req: IncomingMessage, res: ServerResponse, request: UpstreamRequest): Promise<UpstreamResult>
  close(): Promise<void>
}

// OpenSSL's verification failures and Node's name check: the upstream is not who it claims, or we cannot tell.
const CERTIFICATE_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE)/

/** Creates the pools; close them with the proxy. */
export function createUpstreamPools(options: UpstreamOptions): UpstreamPools {
  // `ca` replaces Node's roots, so the public ones are listed too: a private CA must add trust, not narrow it.
  // Built once: given `ca`, every tls.connect parsed all 140-odd roots into a context of its own, about
  // 57 ms of CPU for each new upstream connection here (issue 6).
  const secureContext = options.extraCa ? createSecureContext({ ca: [...rootCertificates, options.extraCa] }) : undefined
  const connector = buildConnector({ ...(secureContext && { secureContext }), timeout: options.connectTimeoutMs })
  const pools = new Map<string, Pool>()
  const poolFor = (destination: Destination, address: string): Pool => {
    const key = `${destination.host}|${address}|${destination.port}`
    const pool = pools.get(key) ?? createPool(destination, address, connector, options)
    pools.delete(key)
    pools.set(key, pool)
    for (const [old, stale] of pools) {
      if (pools.size <= (options.maxPools ?? 256)) break
      pools.delete(old)
      void stale.close().catch(() => undefined)
    }
    return pool
  }
  return {
    forward: (req, res, request) => forward(poolFor(request.destination, request.address), req, res, request, options.idleMs),
    close: async () => {
      await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => undefined)))
      pools.clear()
    },
  }
}

function createPool(destination: Destination, address: string, connector: buildConnector.connector, options: UpstreamOptions): Pool {
  const host = destination.kind === 6 ? `[${destination.host}]` : destination.host
  return new Pool(`https://${host}:${destination.port}`, {
    // The name is verified (SNI and certificate); the address is the one that was checked, never looked up again.
    connect: (opts, callback) => connector({ ...opts, hostname: address, ...(destination.kind === 'name' && { servername: destination.host }) }, callback),
    connections: 32,
    keepAliveTimeout: 4_000,
    headersTimeout: options.idleMs,
    bodyTimeout: options.idleMs,
  })
}

async function forward(pool: Pool, req: IncomingMessage, res: ServerResponse, request: UpstreamRequest, idleMs: number): Promise<UpstreamResult> {
  const sent = { bytes: 0 }
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
  if (hasBody) req.on('data', (chunk: Buffer) => (sent.bytes += chunk.length))
  const answer = await pool
    .request({ method: request.method, path: request.path, headers: request.headers, body: hasBody ? req : null, headersTimeout: idleMs, bodyTimeout: idleMs })
    .catch((err: unknown) => Promise.reject(upstreamError(err, request.destination)))
  const headers = answer.headers as Record<string, string | string[] | undefined>
  stripHopByHop(headers)
  res.writeHead(answer.statusCode, headers as OutgoingHttpHeaders)
  let received = 0
  answer.body.on('data', (chunk: Buffer) => (received += chunk.length))
  const finished = await pipeline(answer.body, res).then(() => true, () => false)
  return { sent: sent.bytes, received, outcome: finished ? 'completed' : res.destroyed ? 'client-closed' : 'upstream-error' }
}

/** What went wrong upstream, said so the agent (and the operator) know whether to retry or to fix trust. */
export function upstreamError(err: unknown, destination: Destination): GuardedError {
  const code = findCode(err)
  const where = `${destination.host}:${destination.port}`
  if (code && CERTIFICATE_CODES.test(code)) {
    return new GuardedError('GUARDED_UPSTREAM_CERTIFICATE', 'upstream-certificate', `the TLS certificate of ${where} failed verification (${code}); the proxy will not forward to it. If this is a private CA, start the proxy with --upstream-ca FILE`)
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') return new UpstreamError('GUARDED_UPSTREAM_TIMEOUT', `${where} did not answer in time`)
  return new UpstreamError('GUARDED_UPSTREAM_UNREACHABLE', `forwarding to ${where} failed: ${code ?? 'connection error'}`)
}

/** undici wraps socket errors; the OpenSSL code may sit on the error or its cause. */
function findCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && e.code !== 'UND_ERR_SOCKET') return e.code
  }
  return undefined
}
