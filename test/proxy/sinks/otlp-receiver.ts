/** A real OTLP/HTTP receiver (protobuf and JSON, as a collector's) on 127.0.0.1:0 that keeps what it was sent, closed in t.teardown. */
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { gunzipSync } from 'node:zlib'
import { decodeTraceRequest } from '../../helpers/otlp-protobuf.js'

/** An OTLP/JSON attribute value, as the collector's JSON mapping encodes it. */
export interface AnyValue {
  readonly stringValue?: string
  readonly intValue?: string | number
  readonly doubleValue?: number
  readonly boolValue?: boolean
}

/** One received span, attributes flattened to plain values. */
export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly startTimeUnixNano: string
  readonly endTimeUnixNano: string
  readonly status?: { readonly code?: number; readonly message?: string }
  readonly attributes: Record<string, string | number | boolean>
  readonly resource: Record<string, string | number | boolean>
}

interface KeyValue {
  readonly key: string
  readonly value: AnyValue
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL, without `/v1/traces`. */
  readonly url: string
  /** Each export as it arrived, unpacked; `body` is its bytes read as UTF-8 (JSON, or protobuf with its strings legible). */
  readonly requests: { readonly path: string; readonly headers: IncomingHttpHeaders; readonly raw: Buffer; readonly body: string }[]
  spans(): ReceivedSpan[]
}

/** The one part of a tap test the helpers need. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** Starts the receiver; it answers exports with `statuses` in turn, then with 200. */
export async function startOtlpReceiver(t: Teardown, statuses: number[] = []): Promise<OtlpReceiver> {
  const requests: OtlpReceiver['requests'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      // As a collector does: a gzipped export is unpacked before it is read.
      const sent = Buffer.concat(chunks)
      const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(sent) : sent
      requests.push({ path: req.url ?? '', headers: req.headers, raw, body: raw.toString('utf8') })
      const ok = req.method === 'POST' && req.url === '/v1/traces'
      // An empty ExportTraceServiceResponse, in the encoding of the request.
      const json = req.headers['content-type'] === 'application/json'
      res.writeHead(ok ? (statuses.shift() ?? 200) : 404, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(ok && json ? '{}' : '')
    })
  })
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const socket of sockets) socket.destroy() // the exporter keeps its connection alive
    await closed
  })
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, requests, spans: () => requests.flatMap((r) => spansOf(r.headers['content-type'], r.raw)) }
}

/** The spans of one export, read in the encoding its content type names. */
export function spansOf(contentType: string | undefined, body: Buffer): ReceivedSpan[] {
  const parsed = (contentType === 'application/json' ? JSON.parse(body.toString('utf8')) : decodeTraceRequest(body)) as {
    resourceSpans: { resource: { attributes: KeyValue[] }; scopeSpans: { spans: (Omit<ReceivedSpan, 'attributes' | 'resource'> & { attributes: KeyValue[] })[] }[] }[]
  }
  return parsed.resourceSpans.flatMap((rs) =>
    rs.scopeSpans.flatMap((ss) => ss.spans.map((span) => ({ ...span, attributes: flatten(span.attributes), resource: flatten(rs.resource.attributes) }))),
  )
}

function flatten(attributes: readonly KeyValue[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const { key, value } of attributes) {
    const v = value.stringValue ?? value.boolValue ?? value.doubleValue ?? value.intValue
    if (v !== undefined) out[key] = typeof v === 'string' && value.intValue !== undefined ? Number(v) : v
  }
  return out
}
