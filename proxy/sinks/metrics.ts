/**
 * The Prometheus sink. Every label value comes from a closed set (classification, verdict, kind,
 * reason, outcome, result): session and prompt IDs, hosts and rules are unbounded, so they live in
 * the audit log and on spans, never here.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { REASONS, type ReasonCode } from '../../policy/reasons.js'
import { TalliedHistogram } from './tallied-histogram.js'
import type { CloseEvent, DecisionEvent, ProxyEvent, Sink } from '../events.js'

/** Metrics settings. */
export interface MetricsOptions {
  /** Also export the standard `process_*` and `nodejs_*` metrics (default true). */
  readonly processMetrics?: boolean
}

/** A metrics registry fed by the record bus, plus the few numbers that do not travel on it. */
export interface Metrics {
  readonly sink: Sink
  /** This proxy's own registry (never prom-client's global one), so two proxies in a process do not collide. */
  readonly registry: Registry
  /** The exposition for `GET /metrics`. */
  render(): Promise<{ contentType: string; body: string }>
  /** Counts a policy reload, good or rejected. */
  policyReload(ok: boolean): void
  /** Sets how many requests wait for an approver now. */
  approvalsPending(count: number): void
  /** Reads the audit log's cumulative dropped-record count at each scrape (`() => audit.stats().dropped`). */
  auditDrops(read: () => number): void
  /** Reads the span sink's cumulative dropped-span count at each scrape (`() => spans.dropped()`). */
  spanDrops(read: () => number): void
}

// Plain HTTP requests take milliseconds; CONNECT tunnels and WebSockets can stay open for an hour.
const DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.25, 1, 5, 30, 120, 600, 3600]
// A human approver answers in seconds to minutes.
const APPROVAL_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900]
const REFUSAL_REASONS = (Object.keys(REASONS) as ReasonCode[]).filter((r) => REASONS[r].status >= 400)

/** Creates the registry and its metrics (names prefixed `guarded_`). */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  const drops = { audit: (): number => 0, spans: (): number => 0 }
  const flushers: (() => void)[] = []
  const m = defineMetrics(registry, drops, () => flushers.forEach((flush) => flush()))
  // Unprefixed on purpose: `process_cpu_seconds_total` and `nodejs_heap_*` are what stock dashboards and alerts query; `job` tells proxies apart.
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })
  // Counts are kept as plain numbers per label set and handed to prom-client when it is scraped:
  // prom-client validates and hashes the labels on every call, and this sink runs twice per request.
  // The duration histogram is counted the same way (tallied-histogram.ts).
  // Label sets are looked up by their values (constant strings) in nested maps, never by a built key.
  const decided = tally(flushers, (classification, verdict, kind) => m.decisions.labels({ classification, verdict, kind }))
  const refused = tally(flushers, (reason) => m.refusals.labels({ reason }))
  const sentBy = tally(flushers, (kind) => m.sent.labels({ kind }))
  const receivedBy = tally(flushers, (kind) => m.received.labels({ kind }))
  const open = tally(flushers, (kind) => m.tunnels.labels({ kind }))
  const lasted = nested((kind, outcome) => m.duration.series(kind, outcome))

  const onDecision = (e: DecisionEvent): void => {
    const kind = e['record.kind']
    decided(1, e['guarded.classification'] ?? 'none', e['guarded.verdict'], kind)
    if (e['guarded.verdict'] === 'deny') refused(1, e['guarded.reason'])
    const latency = approvalLatencyMs(e)
    if (latency !== undefined) m.approvalLatency.observe({ verdict: e['guarded.verdict'] }, latency / 1000)
    if (isTunnel(e)) open(1, kind)
  }
  // A tunnel's close comes with its decision (events.ts), so the gauge needs no table of open tunnels:
  // a Map that every tunnel entered and left made the garbage collector copy its tables to the old
  // generation (issue 2). The proxy emits each record's close once (record.ts).
  const onClose = (e: CloseEvent, decision?: DecisionEvent): void => {
    const kind = e['record.kind']
    // First: a bad number below throws, and the gauge must not keep a closed tunnel.
    if (decision && isTunnel(decision)) open(-1, kind)
    sentBy(count(e['guarded.bytes.sent']), kind)
    receivedBy(count(e['guarded.bytes.received']), kind)
    lasted(kind, e['guarded.outcome']).observe(e['guarded.duration_ms'] / 1000)
  }
  return {
    sink: (event: ProxyEvent, decision?: DecisionEvent) => (event.type === 'decision' ? onDecision(event) : onClose(event, decision)),
    registry,
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    policyReload: (ok) => m.reloads.inc({ result: ok ? 'ok' : 'error' }),
    approvalsPending: (count) => m.approvalsPending.set(count),
    auditDrops: (read) => void (drops.audit = read),
    spanDrops: (read) => void (drops.spans = read),
  }
}

/** Whether a decision opened a tunnel (an allowed CONNECT or upgrade; a plain request is never one). */
function isTunnel(decision: DecisionEvent): boolean {
  return decision['guarded.verdict'] === 'allow' && decision['record.kind'] !== 'http'
}

/** A prom-client label child: counters only go up; gauges also go down. */
type Child = { inc(by: number): void } | { inc(by: number): void; dec(by: number): void }

/** One amount per label set between scrapes. */
interface Pending {
  readonly child: Child
  amount: number
}

/**
 * Adds up amounts per label set between scrapes; the registered flush hands them to prom-client.
 * `make` creates the label child for a set of label values, once.
 */
function tally(flushers: (() => void)[], make: (...labels: string[]) => Child): (amount: number, ...labels: string[]) => void {
  const slots: Pending[] = []
  const slot = nested((...labels: string[]) => {
    const pending = { child: make(...labels), amount: 0 }
    slots.push(pending)
    return pending
  })
  flushers.push(() => {
    for (const pending of slots) {
      const { child, amount } = pending
      pending.amount = 0
      if (amount > 0) child.inc(amount)
      else if (amount < 0 && 'dec' in child) child.dec(-amount)
    }
  })
  return (amount, ...labels) => void (slot(...labels).amount += amount)
}

/** A byte count as a counter accepts it; anything else is the sink's failure, reported by the bus. */
function count(value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`not a count: ${value}`)
  return value
}

/** Memoises `make` by its arguments in nested maps; the arguments come from closed sets, so the maps stay small. */
function nested<T>(make: (...keys: string[]) => T): (...keys: string[]) => T {
  const root = new Map<string, unknown>()
  return (...keys) => {
    let level = root
    for (let i = 0; i < keys.length - 1; i++) {
      const key = keys[i] as string
      let next = level.get(key) as Map<string, unknown> | undefined
      if (next === undefined) level.set(key, (next = new Map()))
      level = next
    }
    const last = keys[keys.length - 1] as string
    let value = level.get(last) as T | undefined
    if (value === undefined) level.set(last, (value = make(...keys)))
    return value
  }
}

/** Approval fields arrive with the approvals issue; read them without widening the event type here. */
function approvalLatencyMs(event: DecisionEvent): number | undefined {
  const value = (event as { readonly 'guarded.approval.latency_ms'?: unknown })['guarded.approval.latency_ms']
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined
}

function defineMetrics(registry: Registry, drops: { readonly audit: () => number; readonly spans: () => number }, flush: () => void) {
  const registers = [registry]
  const m = {
    decisions: new Counter({ name: 'guarded_decisions_total', help: 'Connections and requests decided, by policy classification (none for malformed requests), verdict and kind.', labelNames: ['classification', 'verdict', 'kind'] as const, registers, collect: flush }),
    refusals: new Counter({ name: 'guarded_refusals_total', help: 'Connections and requests refused, by reason code (the X-Guarded-Decision value).', labelNames: ['reason'] as const, registers, collect: flush }),
    tunnels: new Gauge({ name: 'guarded_active_tunnels', help: 'Allowed CONNECT tunnels and WebSocket upgrades open now, by kind.', labelNames: ['kind'] as const, registers, collect: flush }),
    sent: new Counter({ name: 'guarded_sent_bytes_total', help: 'Bytes sent to destinations (guarded.bytes.sent), by kind.', labelNames: ['kind'] as const, registers, collect: flush }),
    received: new Counter({ name: 'guarded_received_bytes_total', help: 'Bytes received from destinations (guarded.bytes.received), by kind.', labelNames: ['kind'] as const, registers, collect: flush }),
    duration: new TalliedHistogram({ name: 'guarded_connection_duration_seconds', help: 'Time from accepting a connection or request to its close, by kind and outcome.', labelNames: ['kind', 'outcome'] as const, buckets: DURATION_BUCKETS, registers }),
    approvalsPending: new Gauge({ name: 'guarded_approvals_pending', help: 'Requests waiting for an approver now.', registers }),
    approvalLatency: new Histogram({ name: 'guarded_approval_latency_seconds', help: 'Time an approval took to settle, by the verdict it produced.', labelNames: ['verdict'] as const, buckets: APPROVAL_BUCKETS, registers }),
    reloads: new Counter({ name: 'guarded_policy_reloads_total', help: 'Policy reloads, by result (error: the last good policy stayed in force).', labelNames: ['result'] as const, registers }),
    auditDrops: countAtScrape(registers, 'guarded_audit_records_dropped_total', 'Audit records dropped because the log could not keep up (only when it is set to drop rather than block).', () => drops.audit()),
    spanDrops: countAtScrape(registers, 'guarded_spans_dropped_total', 'Spans not delivered: the export queue was full (the collector could not keep up), or the collector did not take them.', () => drops.spans()),
  }
  // Zeroes from the start, so `rate()` and `increase()` see the first event rather than a new series.
  for (const reason of REFUSAL_REASONS) m.refusals.inc({ reason }, 0)
  for (const result of ['ok', 'error']) m.reloads.inc({ result }, 0)
  for (const kind of ['connect', 'upgrade']) m.tunnels.set({ kind }, 0)
  return m
}

/**
 * A counter that follows another part's own cumulative count, read when scraped, so nothing is missed
 * between scrapes and the hot path never touches prom-client.
 */
function countAtScrape(registers: Registry[], name: string, help: string, read: () => number): Counter {
  let seen = 0
  return new Counter({
    name,
    help,
    registers,
    collect() {
      const now = read()
      if (now > seen) this.inc(now - seen)
      seen = Math.max(seen, now)
    },
  })
}
