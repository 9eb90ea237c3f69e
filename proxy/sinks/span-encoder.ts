/**
 * The OTLP/JSON export request for a batch of record spans (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding),
 * written straight from the records. The SDK's serializer first turned every span into a tree of
 * small objects (an attribute was `{ key, value: { stringValue } }`) and then stringified the tree:
 * about 13 µs a span here, the largest single cost of the span sink (issue 4); its protobuf
 * serializer was no cheaper. test/proxy/sinks/span-encoder.test.ts checks this output against the
 * SDK's for the same spans, so the two cannot drift apart.
 */
import type { Attributes } from '@opentelemetry/api'
import type { CloseEvent, DecisionEvent } from '../events.js'
import { Bytes } from './bytes.js'
import { jsonNumber, jsonString } from './json-text.js'
import { groupByOrigin, promptHash, type RecordSpan, type SpanOrigin } from './record-span.js'
import { flattened, SharedFragments, SHARED_KEYS } from './shared-fragments.js'


/** An encoder of export request bodies: the spans grouped by resource and scope (one group in practice: a sink's spans share both). */
export function spanEncoder(): (spans: readonly RecordSpan[]) => Uint8Array {
  const shared = new SharedFragments((e) => flattened(sharedAttributes(e)))
  return (spans) => {
    const out = new Bytes(spans.length * 1536 + 256)
    out.write('{"resourceSpans":[')
    let first = true
    for (const [origin, members] of groupByOrigin(spans)) {
      out.write(`${first ? '' : ','}{"resource":${encodeResource(origin)},"scopeSpans":[{"scope":${encodeScope(origin)},"spans":[`)
      for (let i = 0; i < members.length; i++) out.write(encodeSpan(i === 0 ? '' : ',', members[i]!, shared))
      out.write(']}]}')
      first = false
    }
    out.write(']}')
    return out.bytes()
  }
}

function encodeResource({ resource }: SpanOrigin): string {
  const schema = resource.schemaUrl ? `,"schemaUrl":${jsonString(resource.schemaUrl)}` : ''
  return `{"attributes":[${encodeAttributes(resource.attributes)}],"droppedAttributesCount":0${schema}}`
}

function encodeScope({ instrumentationScope: scope }: SpanOrigin): string {
  return `{"name":${jsonString(scope.name)}${scope.version === undefined ? '' : `,"version":${jsonString(scope.version)}`}}`
}

/** Attributes of the resource: few, and read once a batch, so the generic walk is fine here. */
function encodeAttributes(attributes: Attributes): string {
  const out: string[] = []
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'string') out.push(`{"key":${jsonString(key)},"value":{"stringValue":${jsonString(value)}}}`)
    else if (typeof value === 'number') out.push(`{"key":${jsonString(key)},"value":{"${Number.isInteger(value) ? 'intValue' : 'doubleValue'}":${jsonNumber(value)}}}`)
    else if (typeof value === 'boolean') out.push(`{"key":${jsonString(key)},"value":{"boolValue":${value}}}`)
  }
  return out.join(',')
}

// The span's JSON is appended piece by piece onto one string that every helper takes and returns:
// V8 flattens such a chain in one cheap pass, where nested templates cost twice as much (issue 4).
function encodeSpan(out: string, span: RecordSpan, shared: SharedFragments): string {
  const context = span.spanContext()
  const parent = span.parentSpanContext
  out += '{"traceId":"' + context.traceId + '","spanId":"' + context.spanId + (parent ? '","parentSpanId":"' + parent.spanId : '') + '","name":' + jsonString(span.name)
  out += ',"kind":' + span.otlpKind + ',"startTimeUnixNano":"' + nanos(span.startMicros) + '","endTimeUnixNano":"' + nanos(span.endMicros) + '","attributes":['
  out = decisionAttributes(out, span.decision, shared)
  out = closeAttributes(out, span.close)
  const text = span.decision['guarded.prompt.text']
  if (text !== undefined) out = optString(out, 'guarded.prompt.text_sha256', promptHash(text))
  out = status(out + '],"droppedAttributesCount":0,"events":[],"droppedEventsCount":0,"status":', span)
  return out + ',"links":[],"droppedLinksCount":0,"flags":' + span.otlpFlags + '}'
}

/** Whole microseconds since the epoch (below 2^53 until the year 2255) as exact nanoseconds. */
function nanos(micros: number): string {
  return micros === 0 ? '0' : `${micros}000`
}

/** The span's status, without building the object its getter returns. */
function status(out: string, span: RecordSpan): string {
  const message = span.errorMessage()
  return message === undefined ? out + '{"code":0}' : out + '{"code":2,"message":' + jsonString(message) + '}'
}

// Key by key, in record.ts's order, rather than by walking the event. record.id always comes first,
// so every later attribute starts with its comma.
function decisionAttributes(out: string, e: DecisionEvent, shared: SharedFragments): string {
  out += '{"key":"record.id","value":{"stringValue":' + jsonString(e['record.id']) + '}}' + shared.of(e)
  out = optString(out, 'url.path', e['url.path'])
  out = optNumber(out, 'guarded.approval.latency_ms', e['guarded.approval.latency_ms'])
  return optString(out, 'trace.parent', e['trace.parent'])
}

/** From record.kind to the approval's scope: written once per destination (shared-fragments.ts), so a loop is fine. */
function sharedAttributes(e: DecisionEvent): string {
  let out = ''
  for (const key of SHARED_KEYS) {
    const value = e[key]
    out = typeof value === 'number' ? optNumber(out, key, value) : optString(out, key, value)
  }
  return out
}

function closeAttributes(out: string, e: CloseEvent): string {
  out = optWord(out, 'guarded.outcome', e['guarded.outcome'])
  out = optNumber(out, 'guarded.bytes.sent', e['guarded.bytes.sent'])
  out = optNumber(out, 'guarded.bytes.received', e['guarded.bytes.received'])
  out = optNumber(out, 'guarded.duration_ms', e['guarded.duration_ms'])
  return optString(out, 'error.type', e['error.type'])
}

/** `key` is one of ours, which needs no escaping. */
function optString(out: string, key: string, value: string | undefined): string {
  return value === undefined ? out : out + ',{"key":"' + key + '","value":{"stringValue":' + jsonString(value) + '}}'
}

/** A value from one of our closed sets (a string union): never anything to escape. */
function optWord(out: string, key: string, value: string | undefined): string {
  return value === undefined ? out : out + ',{"key":"' + key + '","value":{"stringValue":"' + value + '"}}'
}

/** Integers are `intValue`, anything else `doubleValue`, as the SDK's encoder decides. */
function optNumber(out: string, key: string, value: number | undefined): string {
  if (value === undefined) return out
  return out + ',{"key":"' + key + (Number.isInteger(value) ? '","value":{"intValue":' : '","value":{"doubleValue":') + jsonNumber(value) + '}}'
}
