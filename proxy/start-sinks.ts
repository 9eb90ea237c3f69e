/** Subscribes the event sinks a proxy was configured with: audit log, Prometheus metrics, OpenTelemetry spans. */
import type { Policy } from '../policy/types.js'
import type { EventBus } from './events.js'
import type { Logger } from './logger.js'
import type { ServeOptions } from './options.js'
import { openAuditLog, type AuditLog } from './sinks/audit-log.js'
import { createMetrics, type Metrics } from './sinks/metrics.js'
import type { SpanSink } from './sinks/otel-spans.js'
import { readOtlpConfig } from './sinks/otlp-config.js'

/** The running sinks; `close` flushes spans and the audit log, in that order, after the proxy drained. */
export interface Sinks {
  readonly metrics: Metrics
  readonly audit?: AuditLog
  readonly spans?: SpanSink
  close(): Promise<void>
}

/** Opens every configured sink. Span configuration errors surface here, before anything is written. */
export async function startSinks(options: ServeOptions, policy: Policy, events: EventBus, env: NodeJS.ProcessEnv, logger?: Logger): Promise<Sinks> {
  const spans = await startSpans(options, env)
  const metrics = createMetrics()
  events.subscribe(metrics.sink)
  if (spans) {
    events.subscribe(spans.sink)
    metrics.spanDrops(() => spans.dropped())
  }
  const audit = options.audit && (await openAuditLog({ ...options.audit, ...definedOnly(policy.audit) }))
  if (audit) {
    events.subscribe(audit.sink)
    events.addGate(audit.gate)
    metrics.auditDrops(() => audit.stats().dropped)
  }
  return {
    metrics,
    ...(audit && { audit }),
    ...(spans && { spans }),
    async close() {
      await spans?.shutdown().catch((err: Error) => logger?.error({ error: err.message }, 'exporting the last spans failed'))
      await audit?.close()
    },
  }
}

/** The OpenTelemetry SDK loads only when an endpoint is configured: it is the heaviest import we have. */
async function startSpans(options: ServeOptions, env: NodeJS.ProcessEnv): Promise<SpanSink | undefined> {
  const spanOptions = { ...(options.otlpEndpoint && { endpoint: options.otlpEndpoint }), env, serviceName: 'guarded-proxy' }
  const config = readOtlpConfig(spanOptions)
  if (!config) return undefined
  const { createSpanSink } = await import('./sinks/otel-spans.js')
  return createSpanSink(spanOptions, config)
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>
}
