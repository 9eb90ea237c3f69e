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
  /** Each export as it arrived, unpacked (JSON, or protobuf with its strings legible as they are). */
  readonly requests: { readonly path: string; readonly headers: IncomingHttpHeaders; readonly raw: Buffer }[]
  spans(): ReceivedSpan[]
}

/** The one part of a tap test the helpers need. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/** A partial success, as a collector reports spans it took the batch but rejected. */
export interface PartialSuccess {
  readonly rejectedSpans: number
  readonly errorMessage: string
}

/** Starts the receiver; it answers exports with `statuses` in turn, then with 200, each 200 a full success or `partial`. */
export async function startOtlpReceiver(t: Teardown, statuses: number[] = [], partial?: PartialSuccess): Promise<OtlpReceiver> {
  const requests: OtlpReceiver['requests'] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      // As a collector does: a gzipped export is unpacked before it is read.
      const sent = Buffer.concat(chunks)
      const raw = req.headers['content-encoding'] === 'gzip' ? gunzipSync(sent) : sent
      requests.push({ path: req.url ?? '', headers: req.headers, raw })
      const ok = req.method === 'POST' && req.url === '/v1/traces'
      // An ExportTraceServiceResponse, in the encoding of the request.
      const json = req.headers['content-type'] === 'application/json'
      const status = ok ? (statuses.shift() ?? 200) : 404
      res.writeHead(status, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(status === 200 ? exportResponse(json, partial) : '')
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

// JSON writes the int64 as a string; protobuf nests ExportTracePartialSuccess (rejected_spans 1,
// error_message 2) in field 1.
function exportResponse(json: boolean, partial: PartialSuccess | undefined): string | Buffer {
  if (json) return JSON.stringify(partial ? { partialSuccess: { rejectedSpans: String(partial.rejectedSpans), errorMessage: partial.errorMessage } } : {})
  if (!partial) return Buffer.alloc(0)
  const message = Buffer.from(partial.errorMessage, 'utf8')
  const inner = Buffer.concat([Buffer.from([0x08, partial.rejectedSpans, 0x12, message.length]), message]) // both under 128
  return Buffer.concat([Buffer.from([0x0a, inner.length]), inner])
}
