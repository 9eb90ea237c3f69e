/** Our OTLP/JSON encoder against the SDK's, span for span: the collector must not be able to tell them apart. */
import { createHash } from 'node:crypto'
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import t from 'tap'
import type { CloseEvent, DecisionEvent } from '../../../proxy/events.js'
import { spanEncoder } from '../../../proxy/sinks/span-encoder.js'
import { RecordSpan, type SpanOrigin } from '../../../proxy/sinks/record-span.js'
import { close, decision, everyCloseKey, everyDecisionKey, oneKeyChanged } from './events.js'

const origin: SpanOrigin = {
  resource: resourceFromAttributes({ 'service.name': 'guarded-test', 'deployment.environment': 'ci "quoted"', 'k8s.pod.uid': 'é' }),
  instrumentationScope: { name: 'guarded' },
}
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

const EVERY_DECISION_KEY = everyDecisionKey()
const EVERY_CLOSE_KEY = everyCloseKey()

/** A request body from an encoder of its own, so nothing is reused from another batch. */
const encodeSpans = (spans: RecordSpan[]): Uint8Array => spanEncoder()(spans)

interface Otlp {
  resourceSpans: { scopeSpans: { spans: { attributes: { key: string }[] }[] }[] }[]
}

/** Attributes are a map to OTLP; compare them sorted by key, everything else as it is. */
function normalised(bytes: Uint8Array | undefined): Otlp {
  const otlp = JSON.parse(Buffer.from(bytes ?? new Uint8Array()).toString('utf8')) as Otlp
  for (const rs of otlp.resourceSpans) for (const ss of rs.scopeSpans) for (const span of ss.spans) span.attributes.sort((a, b) => a.key.localeCompare(b.key))
  return otlp
}

const cases: [string, DecisionEvent, CloseEvent][] = [
  ['every key of both records, an upstream error', EVERY_DECISION_KEY, EVERY_CLOSE_KEY],
  ['an allowed tunnel', decision('tunnel'), close('tunnel')],
  ['a refusal is an error with its reason', decision('deny', { 'guarded.verdict': 'deny', 'guarded.reason': 'blocked', 'guarded.classification': 'blocked' }), close('deny', { 'guarded.outcome': 'refused' })],
  ['a request with the client\'s traceparent', decision('child', { 'record.kind': 'http', 'http.request.method': 'POST', 'trace.parent': TRACEPARENT }), close('child', { 'record.kind': 'http' })],
  ['a malformed request without a method', decision('bad', { 'record.kind': 'http', 'http.request.method': undefined, 'guarded.verdict': 'deny', 'guarded.reason': 'bad-request' }), close('bad')],
  ['awkward strings and a fractional duration', decision('q"uo\\te', { 'server.address': 'é.example', 'guarded.rule': 'line\nbreak', 'session.id': '\ud800' }), close('q"uo\\te', { 'guarded.duration_ms': 0.125, 'guarded.bytes.received': 2 ** 40 })],
]

t.test('writes what the SDK\'s JSON serializer writes for the same spans', async (t) => {
  for (const [why, d, c] of cases) {
    const spans = [new RecordSpan(d, c, origin)]
    t.same(normalised(encodeSpans(spans)), normalised(JsonTraceSerializer.serializeRequest(spans)), why)
  }
  const batch = cases.map(([, d, c]) => new RecordSpan(d, c, origin))
  t.same(normalised(encodeSpans(batch)), normalised(JsonTraceSerializer.serializeRequest(batch)), 'and all of them in one request')
  t.same(normalised(encodeSpans([])), normalised(JsonTraceSerializer.serializeRequest([])), 'and none')
})

t.test('times are the records\' own, to the microsecond', async (t) => {
  const span = normalised(encodeSpans([new RecordSpan(decision('t'), close('t', { 'guarded.duration_ms': 1.234 }), origin)])).resourceSpans[0]!.scopeSpans[0]!.spans[0] as unknown as Record<string, unknown>
  t.equal(span.endTimeUnixNano, `${Date.parse('2025-01-01T00:00:02.000Z')}000000`)
  t.equal(span.startTimeUnixNano, `${Date.parse('2025-01-01T00:00:02.000Z') * 1000 - 1234}000`, 'the close time less the duration, exactly')
})

t.test('the prompt text never leaves, its hash does', async (t) => {
  const text = normalised(encodeSpans([new RecordSpan(EVERY_DECISION_KEY, EVERY_CLOSE_KEY, origin)]))
  const json = JSON.stringify(text)
  t.notMatch(json, /hunter2/)
  t.match(json, createHash('sha256').update('fix the build; the token is hunter2').digest('hex'))
})

t.test('a span whose record differs from the one before in any key is written with its own values', async (t) => {
  const encode = spanEncoder()
  const span = (event: DecisionEvent): RecordSpan => new RecordSpan(event, EVERY_CLOSE_KEY, origin)
  for (const [why, changed] of oneKeyChanged(EVERY_DECISION_KEY)) {
    const spans = [span(EVERY_DECISION_KEY), span(changed)]
    t.same(normalised(encode(spans)), normalised(JsonTraceSerializer.serializeRequest(spans)), why)
  }
})
