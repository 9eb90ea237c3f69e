/**
 * The OpenTelemetry sink: one SERVER span per connection or request, exported over OTLP/HTTP. The
 * span is built when the close arrives, because only then do we know when the connection started
 * (an approval can hold the decision back for minutes) and how it ended.
 */
import { createHash } from 'node:crypto'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOnSampler, BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import type { CloseEvent, DecisionEvent, ProxyEvent, Sink } from '../events.js'
import { readOtlpConfig } from './otlp-config.js'
import { parseTraceparent } from './parse-traceparent.js'

/** Span sink settings. */
export interface SpanSinkOptions {
  /** `--otlp-endpoint`: the collector's base URL (`/v1/traces` is appended); wins over the environment. */
  readonly endpoint?: string | undefined
  /** Where the OTEL_* variables are read from (endpoint, headers, timeout, service name, resource attributes). */
  readonly env: NodeJS.ProcessEnv
  /** `service.name` when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one; default `guarded-proxy`. */
  readonly serviceName?: string
  /** Decisions held while their connection is open; past this the oldest is ended early (default 16384). */
  readonly maxOpen?: number
}

/** A running span sink. */
export interface SpanSink {
  readonly sink: Sink
  /** Resolves once every span ended so far has been handed to the collector (or the export failed). */
  flush(): Promise<void>
  /** Ends the spans of connections still open, exports them, and stops the exporter. */
  shutdown(): Promise<void>
}

/** Creates the span sink, or returns undefined when no OTLP endpoint is configured. */
export function createSpanSink(options: SpanSinkOptions): SpanSink | undefined {
  const config = readOtlpConfig(options)
  if (!config) return undefined
  const exporter = new OTLPTraceExporter({ url: config.url, headers: { ...config.headers }, ...(config.timeoutMillis && { timeoutMillis: config.timeoutMillis }) })
  // Not registered globally: the proxy is a library inside guarded-run, and tests run several at once.
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes(config.resource),
    // Not parent-based: the client is the party being watched, and its traceparent's sampled flag must not hide its egress.
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  })
  const tracer = provider.getTracer('guarded')
  const open = new Map<string, DecisionEvent>()
  const maxOpen = options.maxOpen ?? 16_384

  const onDecision = (event: DecisionEvent): void => {
    open.set(event['record.id'], event)
    // A close that never comes must not leak: the oldest entry (Map order) is the likeliest orphan.
    for (const [id, stale] of open) {
      if (open.size <= maxOpen) break
      open.delete(id)
      endSpan(tracer, stale, undefined)
    }
  }
  const onClose = (event: CloseEvent): void => {
    const decision = open.get(event['record.id'])
    if (!decision) return // evicted (its span already ended) or emitted before we subscribed
    open.delete(event['record.id'])
    endSpan(tracer, decision, event)
  }
  return {
    sink: (event: ProxyEvent) => (event.type === 'decision' ? onDecision(event) : onClose(event)),
    flush: () => provider.forceFlush(),
    async shutdown() {
      for (const decision of open.values()) endSpan(tracer, decision, undefined)
      open.clear()
      await provider.shutdown()
    },
  }
}

/** Starts and ends the span in one go; without a close it spans from the decision to now. */
function endSpan(tracer: Tracer, decision: DecisionEvent, close: CloseEvent | undefined): void {
  const end = close ? Date.parse(close.time) : Date.now()
  const start = close ? end - close['guarded.duration_ms'] : Date.parse(decision.time)
  const parent = parseTraceparent(decision['trace.parent'])
  // ROOT, not the active context: a connection's span belongs to the client's trace or to none.
  const ctx = parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT
  const span = tracer.startSpan(spanName(decision), { kind: SpanKind.SERVER, startTime: start, attributes: spanAttributes(decision, close) }, ctx)
  setStatus(span, decision, close)
  span.end(end)
}

/** Low-cardinality on purpose: the method (or the kind when a malformed request had none), never the host. */
function spanName(decision: DecisionEvent): string {
  return `guarded ${decision['http.request.method'] || decision['record.kind'].toUpperCase()}`
}

// Carried by the span itself (its times), or never exported as text.
const SKIP = new Set(['type', 'time', 'guarded.prompt.text'])
// The close repeats these from its decision.
const SKIP_CLOSE = new Set([...SKIP, 'record.id', 'record.kind', 'session.id'])

/** The audit log's keys, copied generically so later keys (approvals) arrive without a change here. */
function spanAttributes(decision: DecisionEvent, close: CloseEvent | undefined): Attributes {
  const attributes: Attributes = {}
  copy(attributes, decision, SKIP)
  if (close) copy(attributes, close, SKIP_CLOSE)
  const text = decision['guarded.prompt.text']
  // The prompt can hold secrets the agent was given; a hash still lets a reader match a span to the audit log.
  if (text !== undefined) attributes['guarded.prompt.text_sha256'] = createHash('sha256').update(text, 'utf8').digest('hex')
  return attributes
}

function copy(into: Attributes, event: ProxyEvent, skip: ReadonlySet<string>): void {
  for (const [key, value] of Object.entries(event)) {
    if (skip.has(key)) continue
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') into[key] = value
  }
}

/** ERROR for a refusal or a failed upstream; success stays UNSET, as the semantic conventions ask. */
function setStatus(span: Span, decision: DecisionEvent, close: CloseEvent | undefined): void {
  if (decision['guarded.verdict'] === 'deny') span.setStatus({ code: SpanStatusCode.ERROR, message: decision['guarded.reason'] })
  else if (close?.['guarded.outcome'] === 'upstream-error') span.setStatus({ code: SpanStatusCode.ERROR, message: close['error.type'] ?? 'upstream-error' })
}
