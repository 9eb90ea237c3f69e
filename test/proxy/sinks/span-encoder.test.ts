/** Our OTLP/JSON encoder against the SDK's, span for span: the collector must not be able to tell them apart. */
import { createHash } from 'node:crypto'
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer'
import t from 'tap'
import type { DecisionEvent } from '../../../proxy/events.js'
import { spanEncoder } from '../../../proxy/sinks/span-encoder.js'
import { RecordSpan } from '../../../proxy/sinks/record-span.js'
import { close, decision, everyCloseKey, everyDecisionKey, oneKeyChanged } from './events.js'
import { cases, origin } from './span-cases.js'

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
