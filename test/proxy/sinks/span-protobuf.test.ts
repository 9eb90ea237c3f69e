/** Our OTLP/protobuf encoder against the SDK's, span for span: the collector must not be able to tell them apart. */
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import t from 'tap'
import type { DecisionEvent } from '../../../proxy/events.js'
import { RecordSpan } from '../../../proxy/sinks/record-span.js'
import { spanProtobufEncoder } from '../../../proxy/sinks/span-protobuf.js'
import { decodeTraceRequest } from '../../helpers/otlp-protobuf.js'
import { close, everyCloseKey, everyDecisionKey, oneKeyChanged } from './events.js'
import { cases, origin } from './span-cases.js'

interface Otlp {
  resourceSpans: { scopeSpans: { spans: { attributes: { key: string }[] }[] }[] }[]
}

/** Attributes are a map to OTLP; compare them sorted by key, everything else as it is. */
function sorted(otlp: unknown): Otlp {
  const request = otlp as Otlp
  for (const rs of request.resourceSpans) for (const ss of rs.scopeSpans) for (const span of ss.spans) span.attributes.sort((a, b) => a.key.localeCompare(b.key))
  return request
}

const ours = (spans: RecordSpan[], encode = spanProtobufEncoder()): Otlp => sorted(decodeTraceRequest(encode(spans)))
const theirs = (spans: RecordSpan[]): Otlp => sorted(decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(spans) ?? new Uint8Array()))

t.test('writes what the SDK\'s protobuf serializer writes for the same spans', async (t) => {
  for (const [why, d, c] of cases) {
    const spans = [new RecordSpan(d, c, origin)]
    t.same(ours(spans), theirs(spans), why)
  }
  const batch = cases.map(([, d, c]) => new RecordSpan(d, c, origin))
  t.same(ours(batch), theirs(batch), 'and all of them in one request')
  t.same(ours([]), theirs([]), 'and none')
})

t.test('reads back as the SDK\'s JSON for the same spans, so the test\'s reader is not the one being fooled', async (t) => {
  // JSON can carry a lone surrogate (escaped); protobuf strings are UTF-8, where it becomes U+FFFD.
  const batch = cases.filter(([, d]) => !/[\ud800-\udfff]/.test(d['session.id'])).map(([, d, c]) => new RecordSpan(d, c, origin))
  const json = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(batch) ?? new Uint8Array()).toString('utf8')) as unknown
  t.same(ours(batch), sorted(json))
})

t.test('for a record with its keys in the order record.ts sets them, the bytes are the SDK\'s', async (t) => {
  // The SDK writes the attributes in the record's own order, and we write that order.
  const request: DecisionEvent = {
    type: 'decision', time: '2025-01-01T00:00:01.000Z', 'record.id': 'same', 'record.kind': 'http', 'session.id': 's1', 'client.address': '127.0.0.1',
    'guarded.verdict': 'allow', 'guarded.reason': 'allowed', 'guarded.prompt.id': 'p1', 'guarded.prompt.source': 'admin', 'server.address': 'example.test',
    'server.port': 80, 'network.peer.address': '127.0.0.1', 'http.request.method': 'GET', 'guarded.classification': 'allowed', 'guarded.rule': 'example.test', 'url.path': '/x',
  }
  const spans = [new RecordSpan(request, close('same', { 'record.kind': 'http' }), origin)]
  const bytes = Buffer.from(spanProtobufEncoder()(spans))
  const sdk = Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) ?? new Uint8Array())
  t.equal(bytes.length, sdk.length)
  t.ok(bytes.equals(sdk), 'byte for byte')
})

t.test('a span whose record differs from the one before in any key is written with its own values', async (t) => {
  const encode = spanProtobufEncoder()
  const span = (event: DecisionEvent): RecordSpan => new RecordSpan(event, everyCloseKey(), origin)
  for (const [why, changed] of oneKeyChanged(everyDecisionKey())) {
    const spans = [span(everyDecisionKey()), span(changed)]
    t.same(ours(spans, encode), theirs(spans), why)
  }
})

t.test('the prompt text never leaves, its hash does', async (t) => {
  const body = Buffer.from(spanProtobufEncoder()([new RecordSpan(everyDecisionKey(), everyCloseKey(), origin)])).toString('latin1')
  t.notMatch(body, /hunter2/)
  t.match(JSON.stringify(ours([new RecordSpan(everyDecisionKey(), everyCloseKey(), origin)])), /"guarded\.prompt\.text_sha256"/)
})
