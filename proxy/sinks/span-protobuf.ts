/**
 * The OTLP/protobuf export request for a batch of record spans (opentelemetry-proto's
 * trace/v1/trace.proto and collector/trace/v1/trace_service.proto), the encoding the OTLP exporter
 * spec makes the default (`http/protobuf`). Written straight into one buffer from the records: the
 * attributes a session's requests to one destination share are encoded once and copied after that,
 * so a span makes almost no garbage, where its JSON text was a string built and thrown away for each.
 * test/proxy/sinks/span-protobuf.test.ts decodes the output and checks it against the SDK's
 * serializer for the same spans.
 */
import type { Attributes } from '@opentelemetry/api'
import type { CloseEvent, DecisionEvent } from '../events.js'
import { DELIMITED, FIXED32, FIXED64, isInt64, ProtoWriter, VARINT } from './proto-writer.js'
import { groupByOrigin, promptHash, type RecordSpan, type SpanOrigin } from './record-span.js'
import { SharedFragments, SHARED_KEYS } from './shared-fragments.js'

// A span's encoding is some 600 bytes, most of them the shared attributes.
const BYTES_PER_SPAN = 640
// The keys of the attributes every span has or may have besides the shared ones, encoded once: a
// copy of their bytes is cheaper than encoding the same text again for every span.
const KEY = {
  recordId: keyField('record.id'),
  urlPath: keyField('url.path'),
  approvalLatency: keyField('guarded.approval.latency_ms'),
  traceParent: keyField('trace.parent'),
  outcome: keyField('guarded.outcome'),
  bytesSent: keyField('guarded.bytes.sent'),
  bytesReceived: keyField('guarded.bytes.received'),
  duration: keyField('guarded.duration_ms'),
  errorType: keyField('error.type'),
  promptHash: keyField('guarded.prompt.text_sha256'),
}
// dropped_attributes_count, dropped_events_count, dropped_links_count: zero, written as the SDK writes them.
const NOTHING_DROPPED = [10, 12, 14] as const

/** An encoder of export request bodies, keeping the shared attributes it encoded for reuse. */
export function spanProtobufEncoder(): (spans: readonly RecordSpan[]) => Uint8Array {
  const shared = new SharedFragments(sharedAttributes)
  return (spans) => {
    const out = new ProtoWriter(spans.length * BYTES_PER_SPAN + 256)
    for (const [origin, members] of groupByOrigin(spans)) {
      out.tag(1, DELIMITED) // ExportTraceServiceRequest.resource_spans
      const resourceSpans = out.begin()
      resource(out, origin)
      out.tag(2, DELIMITED) // ResourceSpans.scope_spans
      const scopeSpans = out.begin()
      scope(out, origin)
      for (const span of members) encodeSpan(out, span, shared)
      out.end(scopeSpans)
      if (origin.resource.schemaUrl) stringField(out, 3, origin.resource.schemaUrl)
      out.end(resourceSpans)
    }
    return out.bytes()
  }
}

function resource(out: ProtoWriter, { resource }: SpanOrigin): void {
  out.tag(1, DELIMITED) // ResourceSpans.resource
  const start = out.begin()
  resourceAttributes(out, resource.attributes)
  out.tag(2, VARINT) // Resource.dropped_attributes_count
  out.varint(0)
  out.end(start)
}

function scope(out: ProtoWriter, { instrumentationScope }: SpanOrigin): void {
  out.tag(1, DELIMITED) // ScopeSpans.scope
  const start = out.begin()
  stringField(out, 1, instrumentationScope.name)
  if (instrumentationScope.version !== undefined) stringField(out, 2, instrumentationScope.version)
  out.end(start)
}

/** Attributes of the resource: few, and written once a batch, so the generic walk is fine here. */
function resourceAttributes(out: ProtoWriter, attributes: Attributes): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'string') stringAttribute(out, 1, keyField(key), value)
    else if (typeof value === 'number') numberAttribute(out, 1, keyField(key), value)
    else if (typeof value === 'boolean') boolAttribute(out, keyField(key), value)
  }
}

// Span fields in the order the SDK's serializer writes them, so the two can be compared byte for byte
// once the attributes are sorted.
function encodeSpan(out: ProtoWriter, span: RecordSpan, shared: SharedFragments<Uint8Array>): void {
  out.tag(2, DELIMITED) // ScopeSpans.spans
  const start = out.begin()
  const context = span.spanContext()
  const parent = span.parentSpanContext
  out.tag(1, DELIMITED)
  out.hexBytes(context.traceId)
  out.tag(2, DELIMITED)
  out.hexBytes(context.spanId)
  if (parent) {
    out.tag(4, DELIMITED)
    out.hexBytes(parent.spanId)
  }
  stringField(out, 5, span.name)
  out.tag(6, VARINT)
  out.varint(span.otlpKind)
  out.tag(7, FIXED64)
  out.fixed64Nanos(span.startMicros)
  out.tag(8, FIXED64)
  out.fixed64Nanos(span.endMicros)
  spanAttributes(out, span, shared)
  for (const field of NOTHING_DROPPED) {
    out.tag(field, VARINT)
    out.varint(0)
  }
  status(out, span)
  out.tag(16, FIXED32)
  out.fixed32(span.otlpFlags)
  out.end(start)
}

function spanAttributes(out: ProtoWriter, span: RecordSpan, shared: SharedFragments<Uint8Array>): void {
  const d = span.decision
  stringAttribute(out, 9, KEY.recordId, d['record.id'])
  out.raw(shared.of(d))
  optString(out, KEY.urlPath, d['url.path'])
  optNumber(out, KEY.approvalLatency, d['guarded.approval.latency_ms'])
  optString(out, KEY.traceParent, d['trace.parent'])
  closeAttributes(out, span.close)
  const text = d['guarded.prompt.text']
  if (text !== undefined) stringAttribute(out, 9, KEY.promptHash, promptHash(text))
}

function closeAttributes(out: ProtoWriter, e: CloseEvent): void {
  stringAttribute(out, 9, KEY.outcome, e['guarded.outcome'])
  numberAttribute(out, 9, KEY.bytesSent, e['guarded.bytes.sent'])
  numberAttribute(out, 9, KEY.bytesReceived, e['guarded.bytes.received'])
  numberAttribute(out, 9, KEY.duration, e['guarded.duration_ms'])
  optString(out, KEY.errorType, e['error.type'])
}

/** The span's status (field 15): a message only for an error, the code always, as the SDK writes it. */
function status(out: ProtoWriter, span: RecordSpan): void {
  out.tag(15, DELIMITED)
  const start = out.begin()
  const message = span.errorMessage()
  if (message !== undefined) stringField(out, 2, message)
  out.tag(3, VARINT)
  out.varint(message === undefined ? 0 : 2) // UNSET, ERROR
  out.end(start)
}

/** The shared middle, as whole span attribute fields (9), encoded once per destination and then copied. */
function sharedAttributes(e: DecisionEvent): Uint8Array {
  const out = new ProtoWriter(512)
  for (const key of SHARED_KEYS) {
    const value = e[key]
    if (typeof value === 'string') stringAttribute(out, 9, keyField(key), value)
    else if (typeof value === 'number') numberAttribute(out, 9, keyField(key), value)
  }
  return out.copy()
}

function optString(out: ProtoWriter, key: Uint8Array, value: string | undefined): void {
  if (value !== undefined) stringAttribute(out, 9, key, value)
}

function optNumber(out: ProtoWriter, key: Uint8Array, value: number | undefined): void {
  if (value !== undefined) numberAttribute(out, 9, key, value)
}

function stringField(out: ProtoWriter, field: number, value: string): void {
  out.tag(field, DELIMITED)
  out.string(value)
}

// A KeyValue (key 1, AnyValue 2) as field `field` of its message. AnyValue's fields: string_value 1,
// bool_value 2, int_value 3, double_value 4.
function stringAttribute(out: ProtoWriter, field: number, key: Uint8Array, value: string): void {
  const pair = keyValue(out, field, key)
  const any = out.begin()
  stringField(out, 1, value)
  endKeyValue(out, pair, any)
}

/** Integers within int64 are `int_value`, anything else `double_value`, as the SDK's encoder decides. */
function numberAttribute(out: ProtoWriter, field: number, key: Uint8Array, value: number): void {
  const pair = keyValue(out, field, key)
  const any = out.begin()
  if (isInt64(value)) {
    out.tag(3, VARINT)
    out.int64(value)
  } else {
    out.tag(4, FIXED64)
    out.double(value)
  }
  endKeyValue(out, pair, any)
}

function boolAttribute(out: ProtoWriter, key: Uint8Array, value: boolean): void {
  const pair = keyValue(out, 1, key)
  const any = out.begin()
  out.tag(2, VARINT)
  out.varint(value ? 1 : 0)
  endKeyValue(out, pair, any)
}

/** Begins a KeyValue, up to its AnyValue (field 2), which the caller begins next; returns where the pair starts. */
function keyValue(out: ProtoWriter, field: number, key: Uint8Array): number {
  out.tag(field, DELIMITED)
  const pair = out.begin()
  out.raw(key)
  out.tag(2, DELIMITED)
  return pair
}

/** A KeyValue's key (field 1), encoded. */
function keyField(key: string): Uint8Array {
  const out = new ProtoWriter(key.length * 3 + 6)
  stringField(out, 1, key)
  return out.copy()
}

function endKeyValue(out: ProtoWriter, pair: number, any: number): void {
  out.end(any)
  out.end(pair)
}
