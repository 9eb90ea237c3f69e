/**
 * The OpenTelemetry sink: one SERVER span per connection or request, exported over OTLP/HTTP (JSON).
 * The span is built when the close arrives, because only then do we know when the connection started
 * (an approval can hold the decision back for minutes) and how it ended. The SDK's BatchSpanProcessor
 * batches the spans and its export delegate bounds and times the exports; the spans themselves, their
 * encoding and the requests that carry them (otlp-transport.ts) are ours, being the cost (issue 4).
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { createOtlpNetworkExportDelegate, OTLPExporterBase } from '@opentelemetry/otlp-exporter-base'
import { createOtlpHttpExporterMetrics } from '@opentelemetry/otlp-exporter-base/node-http'
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-node'
import { ConfigError } from '../errors.js'
import type { DecisionEvent, ProxyEvent, Sink } from '../events.js'
import { spanEncoder } from './span-encoder.js'
import { spanProtobufEncoder } from './span-protobuf.js'
import { readOtlpConfig, type OtlpConfig } from './otlp-config.js'
import { otlpTransport } from './otlp-transport.js'
import { RecordSpan, type SpanOrigin } from './record-span.js'

/** Span sink settings. */
export interface SpanSinkOptions {
  /** `--otlp-endpoint`: the collector's base URL (`/v1/traces` is appended); wins over the environment. */
  readonly endpoint?: string | undefined
  /** Where the OTEL_* variables are read from (endpoint, headers, timeout, service name, resource attributes, OTEL_BSP_*). */
  readonly env: NodeJS.ProcessEnv
  /** `service.name` when neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one; default `guarded-proxy`. */
  readonly serviceName?: string
}

/** A running span sink. */
export interface SpanSink {
  readonly sink: Sink
  /** Spans lost so far: the export queue was full, or the collector did not take them (or took a batch but rejected some). */
  dropped(): number
  /** Resolves once every span ended so far has been handed to the collector (or the export failed). */
  flush(): Promise<void>
  /** Exports the spans ended so far and stops the exporter (the proxy has emitted every close by then). */
  shutdown(): Promise<void>
}

/** The BatchSpanProcessor's settings (OTEL_BSP_* override them). */
export interface BatchSettings {
  /** Spans waiting for export at most; past it new spans are dropped, and counted. */
  readonly maxQueueSize: number
  /** Spans in one export request. */
  readonly maxExportBatchSize: number
  /** How long a partial batch waits before it is sent anyway. */
  readonly scheduledDelayMillis: number
  readonly exportTimeoutMillis: number
}

/** The OTLP exporter spec's default for OTEL_EXPORTER_OTLP_TIMEOUT. */
const DEFAULT_TIMEOUT_MS = 10_000

// Under load a batch of 256 fills in about 30 ms, so its spans die young; spans waiting the 120 ms a
// batch of 1024 took outlived two young-generation collections and were copied to the old one
// (issue 4). A deep queue rides out a slow collector for longer (each span holds its two records,
// about 1 KB, so 16384 is some 16 MB at worst).
const BATCH_DEFAULTS: BatchSettings = { maxQueueSize: 16_384, maxExportBatchSize: 256, scheduledDelayMillis: 1000, exportTimeoutMillis: 30_000 }

/**
 * Creates the span sink, or returns undefined when no OTLP endpoint is configured. A caller that has
 * read the configuration already passes it, so the TLS files are read once.
 */
export function createSpanSink(options: SpanSinkOptions, config = readOtlpConfig(options)): SpanSink | undefined {
  if (!config) return undefined
  const settings = batchSettings(options.env)
  const queue: CountedQueue = new CountedQueue(otlpExporter(config, settings, (spans) => void (queue.dropped += spans)), settings)
  // Not a tracer provider: nothing else in the proxy makes spans, and the proxy is a library inside
  // guarded-run, where a globally registered provider would not be ours to take.
  const origin: SpanOrigin = { resource: resourceFromAttributes(config.resource), instrumentationScope: { name: 'guarded' } }
  const { sampler } = config
  return {
    // The span is made when its close arrives, which brings the decision with it.
    sink: (event: ProxyEvent, decision?: DecisionEvent) => {
      if (event.type !== 'close' || !decision) return
      if (sampler === undefined || sampler(decision['trace.parent'])) queue.end(new RecordSpan(decision, event, origin))
    },
    dropped: () => queue.dropped,
    flush: () => queue.processor.forceFlush(),
    shutdown: () => queue.processor.shutdown(),
  }
}

/**
 * The SDK's batch processor, with its queue counted from outside: it drops spans when the queue is
 * full and only logs that it did. It holds exactly the spans it was given and has not yet passed to
 * the exporter, so we know when it is full, drop there ourselves, and count it.
 */
class CountedQueue {
  readonly processor: BatchSpanProcessor
  /** Spans lost: the queue was full, or their export failed. */
  dropped = 0
  #queued = 0

  constructor(
    exporter: SpanExporter,
    private readonly settings: BatchSettings,
  ) {
    const counting: SpanExporter = {
      export: (spans: ReadableSpan[], done: (result: ExportResult) => void) => {
        this.#queued -= spans.length
        exporter.export(spans, (result) => {
          if (result.code !== ExportResultCode.SUCCESS) this.dropped += spans.length
          done(result)
        })
      },
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
      shutdown: () => exporter.shutdown(),
    }
    this.processor = new BatchSpanProcessor(counting, { ...settings })
  }

  /** Queues a finished span for export, or counts it dropped when the queue is full. */
  end(span: RecordSpan): void {
    if (this.#queued >= this.settings.maxQueueSize) return void this.dropped++
    this.#queued++
    this.processor.onEnd(span)
  }
}

/**
 * OTLP/HTTP with the SDK's export delegate (bounded concurrency, timeouts, partial-success logging),
 * our transport (otlp-transport.ts) and our encoder. The processor exports one batch at a time, but a
 * flush (and shutdown) sends the whole backlog at once; the delegate refuses exports past its limit,
 * which at the SDK's 30 lost every span past the 30th batch of a backlog (issue 4). Its limit here is
 * as many batches as the queue can hold.
 */
function otlpExporter(config: OtlpConfig, settings: BatchSettings, rejected: (spans: number) => void): SpanExporter {
  const concurrencyLimit = Math.ceil(settings.maxQueueSize / settings.maxExportBatchSize) + 1 // + the batch already out
  const json = config.protocol === 'http/json'
  const encode = json ? spanEncoder() : spanProtobufEncoder()
  const serializer = {
    // Only our sink feeds this exporter, so every span is a RecordSpan.
    serializeRequest: (spans: ReadableSpan[]) => encode(spans.filter((span): span is RecordSpan => span instanceof RecordSpan)),
    // The collector answers in the encoding it was sent. A partial success says how many spans it
    // rejected: they are lost as surely as a failed export's, and counted with them (the delegate logs
    // its message).
    deserializeResponse: (data: Uint8Array): object => {
      if (data.length === 0) return {}
      const response = json ? (JSON.parse(Buffer.from(data).toString('utf8')) as PartialSuccess | null) : ProtobufTraceSerializer.deserializeResponse(data)
      rejected(rejectedSpans(response))
      return response ?? {}
    },
  }
  const delegateSettings = { timeoutMillis: config.timeoutMillis ?? DEFAULT_TIMEOUT_MS, concurrencyLimit, compression: config.compression }
  const metrics = createOtlpHttpExporterMetrics('otlp_http_span_exporter', { name: 'span', countItems: (spans: ReadableSpan[]) => spans.length }, config.url, undefined)
  return new OTLPExporterBase(createOtlpNetworkExportDelegate(delegateSettings, serializer, metrics, otlpTransport(config)))
}

/** An export response as far as we read it; OTLP/JSON writes the int64 count as a string. */
interface PartialSuccess {
  readonly partialSuccess?: { readonly rejectedSpans?: number | string }
}

/** The spans a partial success rejected: a whole number, or nothing when the answer says none or makes no sense. */
function rejectedSpans(response: PartialSuccess | null): number {
  const count = Number(response?.partialSuccess?.rejectedSpans ?? 0)
  return Number.isSafeInteger(count) && count > 0 ? count : 0
}

/** Our defaults, each overridden by its standard OTEL_BSP_* variable from `env`. */
export function batchSettings(env: NodeJS.ProcessEnv): BatchSettings {
  const read = (name: string, fallback: number): number => {
    const text = env[name]?.trim()
    if (!text) return fallback
    const value = Number(text)
    if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive whole number, not ${JSON.stringify(env[name])}`)
    return value
  }
  const maxQueueSize = read('OTEL_BSP_MAX_QUEUE_SIZE', BATCH_DEFAULTS.maxQueueSize)
  return {
    maxQueueSize,
    // The processor caps a batch at the queue size; so do we, so both agree on what "full" means.
    maxExportBatchSize: Math.min(maxQueueSize, read('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', BATCH_DEFAULTS.maxExportBatchSize)),
    scheduledDelayMillis: read('OTEL_BSP_SCHEDULE_DELAY', BATCH_DEFAULTS.scheduledDelayMillis),
    exportTimeoutMillis: read('OTEL_BSP_EXPORT_TIMEOUT', BATCH_DEFAULTS.exportTimeoutMillis),
  }
}
