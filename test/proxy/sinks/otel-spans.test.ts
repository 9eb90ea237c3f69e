/** The span sink against a real OTLP/HTTP receiver: what the collector gets for each record. */
import { createHash } from 'node:crypto'
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { createEventBus, type DecisionEvent } from '../../../proxy/events.js'
import { batchSettings, createSpanSink } from '../../../proxy/sinks/otel-spans.js'
import { close, decision } from './events.js'
import { startEventsStack } from '../../helpers/events-stack.js'
import { startHttpOrigin } from '../../helpers/origins.js'
import { startOtlpReceiver, type ReceivedSpan } from './otlp-receiver.js'
import { parseProm, sample } from './prom-text.js'
import { ended, start, startHeldCollector, until } from './span-sinks.js'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_ID = '00f067aa0ba902b7'
const PROMPT = 'fix the build; the token is hunter2'
const SERVER = 2
const ERROR = 2

const byId = (spans: ReceivedSpan[], id: string): ReceivedSpan => {
  const span = spans.find((s) => s.attributes['record.id'] === id)
  if (!span) throw new Error(`no span for ${id}`)
  return span
}
const nanos = (iso: string, minusMs = 0): string => (BigInt(Date.parse(iso) - minusMs) * 1_000_000n).toString()

// The exporter spec's default encoding, and the other one, set by name: the collector reads the same spans from both.
const ENCODINGS = [
  { why: 'OTLP/HTTP protobuf, the spec\'s default', env: {}, contentType: 'application/x-protobuf' },
  { why: 'OTLP/HTTP JSON, asked for', env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, contentType: 'application/json' },
]

for (const encoding of ENCODINGS) t.test(`exports one SERVER span per record with the audit keys, a hashed prompt and the client trace: ${encoding.why}`, async (t) => {
  const receiver = await startOtlpReceiver(t)
  const spans = start(t, { env: { ...encoding.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'guarded-test', OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc' } })
  const bus = createEventBus((err) => {
    throw err
  })
  bus.subscribe(spans.sink)
  const approval = { 'guarded.approval.by': 'alice', 'guarded.approval.scope': 'session', 'guarded.approval.latency_ms': 2500 }
  const tunnelDecision = { ...decision('tunnel', { 'guarded.prompt.text': PROMPT, 'guarded.reason': 'approved' }), ...approval } as DecisionEvent
  const getDecision = decision('get', { 'record.kind': 'http', 'http.request.method': 'GET', 'trace.parent': `00-${TRACE_ID}-${PARENT_ID}-01`, 'guarded.classification': 'blocked', 'guarded.verdict': 'deny', 'guarded.reason': 'blocked' })
  const wsDecision = decision('ws', { 'record.kind': 'upgrade', 'http.request.method': 'GET' })
  for (const d of [tunnelDecision, getDecision, wsDecision]) bus.emit(d)
  bus.emit(close('get', { 'record.kind': 'http', 'guarded.outcome': 'refused', 'guarded.bytes.sent': 0, 'guarded.bytes.received': 0, 'guarded.duration_ms': 3 }), getDecision)
  bus.emit(close('ws', { 'record.kind': 'upgrade', 'guarded.outcome': 'upstream-error', 'error.type': 'ECONNRESET' }), wsDecision)
  bus.emit(close('tunnel'), tunnelDecision)
  await spans.flush()

  const got = receiver.spans()
  t.equal(got.length, 3)
  const request = receiver.requests[0]!
  t.equal(request.path, '/v1/traces')
  t.equal(request.headers['content-type'], encoding.contentType)
  t.equal(request.headers.authorization, 'Bearer abc', 'OTEL_EXPORTER_OTLP_HEADERS from the env we passed')
  t.notOk(receiver.requests.some((r) => r.raw.includes('hunter2')), 'the prompt text never leaves as text')

  const tunnel = byId(got, 'tunnel')
  t.equal(tunnel.name, 'guarded CONNECT')
  t.equal(tunnel.kind, SERVER)
  t.equal(tunnel.resource['service.name'], 'guarded-test')
  t.same(tunnel.attributes, {
    'record.id': 'tunnel',
    'record.kind': 'connect',
    'session.id': 'sess-secret-7f3a',
    'guarded.prompt.id': 'prompt-secret-91c2',
    'guarded.prompt.source': 'header',
    'guarded.prompt.text_sha256': createHash('sha256').update(PROMPT).digest('hex'),
    'client.address': '127.0.0.1',
    'server.address': 'api.example-secret.test',
    'server.port': 443,
    'network.peer.address': '203.0.113.9',
    'http.request.method': 'CONNECT',
    'guarded.classification': 'allowed',
    'guarded.verdict': 'allow',
    'guarded.reason': 'approved',
    'guarded.rule': '*.example-secret.test',
    'guarded.approval.by': 'alice',
    'guarded.approval.scope': 'session',
    'guarded.approval.latency_ms': 2500,
    'guarded.outcome': 'completed',
    'guarded.bytes.sent': 100,
    'guarded.bytes.received': 2000,
    'guarded.duration_ms': 1500,
  })
  t.equal(tunnel.startTimeUnixNano, nanos('2025-01-01T00:00:02.000Z', 1500), 'starts when the connection did, before the decision')
  t.equal(tunnel.endTimeUnixNano, nanos('2025-01-01T00:00:02.000Z'))
  t.notOk(tunnel.status?.code, 'success leaves the status unset')
  t.notOk(tunnel.parentSpanId, 'no traceparent, no parent')
  t.not(tunnel.traceId, TRACE_ID)

  const get = byId(got, 'get')
  t.equal(get.name, 'guarded GET')
  t.equal(get.traceId, TRACE_ID, 'joins the trace the client sent')
  t.equal(get.parentSpanId, PARENT_ID)
  t.same(get.status, { code: ERROR, message: 'blocked' })
  t.equal(get.attributes['trace.parent'], `00-${TRACE_ID}-${PARENT_ID}-01`)
  t.equal(get.attributes['guarded.outcome'], 'refused')
  t.notOk('guarded.prompt.text_sha256' in get.attributes, 'no prompt text, no hash')

  const ws = byId(got, 'ws')
  t.same(ws.status, { code: ERROR, message: 'ECONNRESET' }, 'an upstream error is an error even after an allow')
  t.equal(ws.attributes['error.type'], 'ECONNRESET')
})

t.test('--otlp-endpoint wins over the environment and may name the full traces path', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const spans = start(t, { endpoint: `${receiver.url}/v1/traces`, env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' }, serviceName: 'guarded-sidecar' })
  ended(spans, 'a')
  await spans.flush()
  t.equal(receiver.requests[0]?.path, '/v1/traces')
  t.equal(receiver.spans()[0]?.resource['service.name'], 'guarded-sidecar', 'the caller\'s name when the env names none')
})

t.test('a span is made from the close and the decision it carries; the sink keeps no record open', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const spans = createSpanSink({ endpoint: receiver.url, env: {} })!
  const first = decision('1')
  spans.sink(first)
  await spans.flush()
  t.same(receiver.spans(), [], 'a decision alone makes no span')
  spans.sink(close('1'), first)
  spans.sink(close('orphan'))
  // The sink never saw this decision on its own: only what the close carries can make its span.
  spans.sink(close('2'), decision('2', { 'server.address': 'carried.example' }))
  await spans.shutdown()
  t.same(receiver.spans().map((s) => s.attributes['record.id']), ['1', '2'], 'one span per close that came with its decision, in order')
  t.equal(byId(receiver.spans(), '2').attributes['server.address'], 'carried.example', 'the decision given with the close')
})

t.test('a client that marks its trace unsampled still gets a span: it cannot hide its own egress', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const spans = start(t, { endpoint: receiver.url, env: {} })
  ended(spans, 'quiet', { 'trace.parent': `00-${TRACE_ID}-${PARENT_ID}-00` })
  ended(spans, 'junk', { 'trace.parent': `00-${'0'.repeat(32)}-${PARENT_ID}-01` })
  await spans.flush()
  const quiet = byId(receiver.spans(), 'quiet')
  t.equal(quiet.traceId, TRACE_ID)
  t.equal(quiet.parentSpanId, PARENT_ID)
  const junk = byId(receiver.spans(), 'junk')
  t.notOk(junk.parentSpanId, 'an invalid traceparent starts a new trace')
  t.equal(junk.attributes['trace.parent'], `00-${'0'.repeat(32)}-${PARENT_ID}-01`, 'and is kept as an attribute for the reader')
})

t.test('returns undefined when no endpoint is configured', async (t) => {
  t.equal(createSpanSink({ env: {} }), undefined)
  t.equal(createSpanSink({ env: { OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_HEADERS: 'a=b' } }), undefined, 'other OTEL_* variables do not turn it on')
  t.equal(createSpanSink({ endpoint: '', env: {} }), undefined)
  t.equal(createSpanSink({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' } }), undefined)
})

t.test('a full export queue drops new spans and counts them; so does an export the collector refuses', async (t) => {
  const collector = await startHeldCollector(t)
  // Two spans fill a batch; while it is out, two more fill the queue, and the fifth has no room.
  const spans = start(t, { endpoint: collector.url, env: { OTEL_BSP_MAX_QUEUE_SIZE: '2', OTEL_BSP_SCHEDULE_DELAY: '10' } })
  for (const id of ['1', '2', '3', '4', '5']) ended(spans, id)
  await until('the first export', () => collector.held() === 1)
  t.equal(spans.dropped(), 1, 'the span that found the queue full')
  collector.answer(400) // not retryable: those two spans are lost
  await until('the second export', () => collector.held() === 1)
  t.equal(spans.dropped(), 3, 'plus the refused batch')
  collector.answer(200)
  await spans.flush()
  t.equal(spans.dropped(), 3, 'a batch the collector took is not counted')
})

for (const encoding of ENCODINGS) t.test(`spans a collector takes but rejects (a partial success) are counted as dropped: ${encoding.why}`, async (t) => {
  const receiver = await startOtlpReceiver(t, [], { rejectedSpans: 2, errorMessage: 'spans older than an hour' })
  const spans = start(t, { endpoint: receiver.url, env: encoding.env })
  for (const id of ['a', 'b', 'c']) ended(spans, id)
  await spans.flush()
  t.equal(receiver.requests.length, 1, 'one export, answered 200')
  t.equal(spans.dropped(), 2, 'the two the collector rejected, not the one it kept')
})

t.test('a flush sends a deep backlog whole: no batch is refused for being one export too many', async (t) => {
  const collector = await startHeldCollector(t)
  const spans = start(t, { endpoint: collector.url, env: {} })
  // The first full batch goes out at once and is held; the rest wait in the queue for the flush.
  for (let i = 0; i < 10_000; i++) ended(spans, String(i))
  await until('the first export', () => collector.held() === 1)
  const flushed = spans.flush()
  const batches = Math.ceil(10_000 / batchSettings({}).maxExportBatchSize)
  await until('every batch of the backlog', () => collector.held() === batches)
  t.equal(spans.dropped(), 0, 'nothing refused on the way out')
  collector.answer(200)
  await flushed
  t.equal(spans.dropped(), 0, 'and nothing lost once the collector answered')
})

t.test('OTEL_BSP_* must be positive whole numbers', async (t) => {
  t.throws(() => createSpanSink({ endpoint: 'http://127.0.0.1:4318', env: { OTEL_BSP_MAX_QUEUE_SIZE: 'lots' } }), /OTEL_BSP_MAX_QUEUE_SIZE must be a positive whole number/)
  t.throws(() => createSpanSink({ endpoint: 'http://127.0.0.1:4318', env: { OTEL_BSP_SCHEDULE_DELAY: '-5' } }), /OTEL_BSP_SCHEDULE_DELAY/)
})

t.test('through the proxy: spans the collector refuses show in guarded_spans_dropped_total', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const origin = await startHttpOrigin(t)
  // A path the receiver does not serve: every export is answered 404, which is not worth a retry.
  const stack = await startEventsStack(t, { otlpEndpoint: `${receiver.url}/nowhere` })
  const dropped = async (): Promise<number> => sample(parseProm((await stack.admin('GET', '/metrics', undefined, null)).text), 'guarded_spans_dropped_total') ?? -1
  t.equal(await dropped(), 0, 'exported from the start, as zero')
  const agent = new ProxyAgent({ uri: stack.proxyUrl, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 3; i++) await (await request(origin.url(`/s${i}`, 'origin.test'), { dispatcher: agent })).body.text()
  await stack.waitForCloses(3)
  const deadline = Date.now() + 5_000
  while ((await dropped()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(await dropped(), 3)
  t.ok(receiver.requests.some((r) => r.path === '/nowhere/v1/traces'), 'the exports went out, and were refused')
})
