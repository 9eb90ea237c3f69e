/**
 * One record's span, built once its close arrives: the SDK's `ReadableSpan`, read straight from the
 * decision and close events. A live SDK span (Tracer.startSpan, then end) sampled, validated and
 * copied every attribute for a span whose every field we already knew; this holds the two events
 * and works out the rest only for whoever asks (issue 4).
 */
import { createHash, randomBytes } from 'node:crypto'
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type Link, type SpanContext, type SpanStatus } from '@opentelemetry/api'
import type { InstrumentationScope } from '@opentelemetry/core'
import type { Resource } from '@opentelemetry/resources'
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-node'
import type { CloseEvent, DecisionEvent, ProxyEvent } from '../events.js'
import { parseTraceparent } from './parse-traceparent.js'

/** What every span of one sink shares. */
export interface SpanOrigin {
  readonly resource: Resource
  readonly instrumentationScope: InstrumentationScope
}

const NONE: never[] = []

/** The spans of a batch by their resource and scope (one group in practice: a sink's spans share both). */
export function groupByOrigin(spans: readonly RecordSpan[]): Map<SpanOrigin, RecordSpan[]> {
  const groups = new Map<SpanOrigin, RecordSpan[]>()
  for (const span of spans) {
    const group = groups.get(span.origin)
    if (group) group.push(span)
    else groups.set(span.origin, [span])
  }
  return groups
}

/** A finished SERVER span for one connection or request. */
export class RecordSpan implements ReadableSpan {
  readonly parentSpanContext: SpanContext | undefined
  /** Microseconds since the epoch: whole numbers, so the nanosecond strings are exact. */
  readonly startMicros: number
  readonly endMicros: number
  readonly #context: SpanContext

  constructor(
    readonly decision: DecisionEvent,
    readonly close: CloseEvent,
    readonly origin: SpanOrigin,
  ) {
    const traceParent = decision['trace.parent']
    this.parentSpanContext = traceParent === undefined ? undefined : parseTraceparent(traceParent)
    // Not the client's sampled flag: the client is the party being watched, and must not hide its egress.
    this.#context = { traceId: this.parentSpanContext?.traceId ?? randomId(32), spanId: randomId(16), traceFlags: TraceFlags.SAMPLED }
    // The close knows when the connection started (an approval can hold the decision back for minutes).
    this.endMicros = millis(close.time) * 1000
    this.startMicros = this.endMicros - Math.round(close['guarded.duration_ms'] * 1000)
  }

  spanContext(): SpanContext {
    return this.#context
  }
  /** Low-cardinality on purpose: the method (or the kind when a malformed request had none), never the host. */
  get name(): string {
    return `guarded ${this.decision['http.request.method'] || this.decision['record.kind'].toUpperCase()}`
  }
  /** ERROR for a refusal or a failed upstream; success stays UNSET, as the semantic conventions ask. */
  get status(): SpanStatus {
    const message = this.errorMessage()
    return message === undefined ? { code: SpanStatusCode.UNSET } : { code: SpanStatusCode.ERROR, message }
  }
  /** OTLP's span kind: the API's SpanKind plus one (OTLP keeps 0 for unspecified). */
  get otlpKind(): number {
    return this.kind + 1
  }
  /** OTLP's span flags: the W3C flags in the low byte, then "we know whether the parent is remote" (0x100) and "it is" (0x200). */
  get otlpFlags(): number {
    return (this.#context.traceFlags & 0xff) | 0x100 | (this.parentSpanContext?.isRemote ? 0x200 : 0)
  }
  /** Why the span is an error (the refusal's reason, the upstream's error), or undefined when it is not. */
  errorMessage(): string | undefined {
    if (this.decision['guarded.verdict'] === 'deny') return this.decision['guarded.reason']
    if (this.close['guarded.outcome'] === 'upstream-error') return this.close['error.type'] ?? 'upstream-error'
    return undefined
  }
  /** The audit log's keys, copied generically; the OTLP encoder writes the same ones without this copy. */
  get attributes(): Attributes {
    const attributes: Attributes = {}
    copy(attributes, this.decision, SKIP)
    copy(attributes, this.close, SKIP_CLOSE)
    const text = this.decision['guarded.prompt.text']
    if (text !== undefined) attributes['guarded.prompt.text_sha256'] = promptHash(text)
    return attributes
  }
  get startTime(): HrTime {
    return hrTime(this.startMicros)
  }
  get endTime(): HrTime {
    return hrTime(this.endMicros)
  }
  get duration(): HrTime {
    return hrTime(this.endMicros - this.startMicros)
  }
  get kind(): SpanKind {
    return SpanKind.SERVER
  }
  get resource(): Resource {
    return this.origin.resource
  }
  get instrumentationScope(): InstrumentationScope {
    return this.origin.instrumentationScope
  }
  get ended(): boolean {
    return true
  }
  get links(): Link[] {
    return NONE
  }
  get events(): TimedEvent[] {
    return NONE
  }
  get droppedAttributesCount(): number {
    return 0
  }
  get droppedEventsCount(): number {
    return 0
  }
  get droppedLinksCount(): number {
    return 0
  }
}

// Carried by the span itself (its times), or never exported as text.
const SKIP = new Set(['type', 'time', 'guarded.prompt.text'])
// The close repeats these from its decision.
const SKIP_CLOSE = new Set([...SKIP, 'record.id', 'record.kind', 'session.id'])

function copy(into: Attributes, event: ProxyEvent, skip: ReadonlySet<string>): void {
  for (const [key, value] of Object.entries(event)) {
    if (skip.has(key)) continue
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') into[key] = value
  }
}

let lastPrompt: { text: string; hash: string } | undefined

/**
 * The prompt can hold secrets the agent was given; a hash still lets a reader match a span to the
 * audit log. A session's requests share one prompt, so the last hash is kept.
 */
export function promptHash(text: string): string {
  if (lastPrompt?.text !== text) lastPrompt = { text, hash: createHash('sha256').update(text, 'utf8').digest('hex') }
  return lastPrompt.hash
}

// IDs are cut from one random hex string, refilled every few hundred spans: one random draw and one
// hex conversion for many IDs, where the SDK's generator did both for each.
let pool = ''
let poolAt = 0
const ZERO = /^0+$/

/** `hexDigits` random lowercase hex digits, never all zero (an invalid W3C ID). */
function randomId(hexDigits: number): string {
  if (poolAt + hexDigits > pool.length) {
    pool = randomBytes(8192).toString('hex')
    poolAt = 0
  }
  const id = pool.slice(poolAt, (poolAt += hexDigits))
  return ZERO.test(id) ? randomId(hexDigits) : id
}

let lastTime = ''
let lastMillis = 0

/** Date.parse, remembering the last answer: records are stamped once per millisecond, so neighbours share their time. */
function millis(iso: string): number {
  if (iso !== lastTime) {
    lastMillis = Date.parse(iso)
    lastTime = iso
  }
  return lastMillis
}

function hrTime(micros: number): HrTime {
  const seconds = Math.floor(micros / 1e6)
  return [seconds, (micros - seconds * 1e6) * 1000]
}
