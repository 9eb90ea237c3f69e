/** Span sink fixtures shared by the sink's tests and its transport's: the sink itself, and collectors that answer as a test tells them. */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createSpanSink, type SpanSink, type SpanSinkOptions } from '../../../proxy/sinks/otel-spans.js'
import { close, decision } from './events.js'
import type { Teardown } from './otlp-receiver.js'

/** A span sink made with `options`, shut down at teardown. */
export function start(t: Teardown, options: SpanSinkOptions): SpanSink {
  const sink = createSpanSink(options)
  if (!sink) throw new Error('expected a span sink')
  t.teardown(() => sink.shutdown())
  return sink
}

/** One record through the sink as the bus delivers it: the decision, then the close carrying it. */
export function ended(spans: SpanSink, id: string, fields: Parameters<typeof decision>[1] = {}): void {
  const d = decision(id, fields)
  spans.sink(d)
  spans.sink(close(id), d)
}

/** A collector that holds every export until the test answers it, with `status`. */
export async function startHeldCollector(t: Teardown): Promise<{ url: string; held: () => number; answer: (status: number) => void }> {
  const waiting: ServerResponse[] = []
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => waiting.push(res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held: () => waiting.length,
    answer: (status) => { for (const res of waiting.splice(0)) res.writeHead(status, { 'content-type': 'application/json' }).end('{}') },
  }
}

export const until = async (what: string, ok: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5_000
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
