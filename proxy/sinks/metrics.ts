/**
 * The Prometheus sink. Every label value comes from a closed set (classification, verdict, kind,
 * reason, outcome, result): session and prompt IDs, hosts and rules are unbounded, so they live in
 * the audit log and on spans, never here.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { REASONS, type ReasonCode } from '../../policy/reasons.js'
import type { CloseEvent, DecisionEvent, ProxyEvent, Sink } from '../events.js'

/** Metrics settings. */
export interface MetricsOptions {
  /** Also export the standard `process_*` and `nodejs_*` metrics (default true). */
  readonly processMetrics?: boolean
  /** Open tunnels tracked at most; past this the oldest is forgotten, so a lost close cannot leak (default 65536). */
  readonly maxTunnels?: number
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
}

type Kind = DecisionEvent['record.kind']

// Plain HTTP requests take milliseconds; CONNECT tunnels and WebSockets can stay open for an hour.
const DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.25, 1, 5, 30, 120, 600, 3600]
// A human approver answers in seconds to minutes.
const APPROVAL_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 900]
const REFUSAL_REASONS = (Object.keys(REASONS) as ReasonCode[]).filter((r) => REASONS[r].status >= 400)

/** Creates the registry and its metrics (names prefixed `guarded_`). */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  let readDrops: (() => number) | undefined
  const m = defineMetrics(registry, () => readDrops?.() ?? 0)
  // Unprefixed on purpose: `process_cpu_seconds_total` and `nodejs_heap_*` are what stock dashboards and alerts query; `job` tells proxies apart.
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })
  const tunnels = new Map<string, Kind>()
  const maxTunnels = options.maxTunnels ?? 65_536
  // Label children cached by their values (all from closed sets): prom-client hashes the label object
  // on every inc() otherwise, and this sink runs twice per request.
  const decided = cached((key) => { const [classification = '', verdict = '', kind = ''] = key.split(' '); return m.decisions.labels({ classification, verdict, kind }) })
  const refused = cached((reason) => m.refusals.labels({ reason }))
  const sentBy = cached((kind) => m.sent.labels({ kind }))
  const receivedBy = cached((kind) => m.received.labels({ kind }))
  const lasted = cached((key) => { const [kind = '', outcome = ''] = key.split(' '); return m.duration.labels({ kind, outcome }) })

  const onDecision = (e: DecisionEvent): void => {
    const kind = e['record.kind']
    decided(`${e['guarded.classification'] ?? 'none'} ${e['guarded.verdict']} ${kind}`).inc()
    if (e['guarded.verdict'] === 'deny') refused(e['guarded.reason']).inc()
    const latency = approvalLatencyMs(e)
    if (latency !== undefined) m.approvalLatency.observe({ verdict: e['guarded.verdict'] }, latency / 1000)
    if (e['guarded.verdict'] === 'allow' && kind !== 'http') openTunnel(e['record.id'], kind)
  }
  const openTunnel = (id: string, kind: Kind): void => {
    tunnels.set(id, kind)
    m.tunnels.inc({ kind })
    // The oldest entry (Map order) is the likeliest to have lost its close.
    for (const [oldId, oldKind] of tunnels) {
      if (tunnels.size <= maxTunnels) break
      tunnels.delete(oldId)
      m.tunnels.dec({ kind: oldKind })
    }
  }
  const onClose = (e: CloseEvent): void => {
    const kind = e['record.kind']
    // First: prom-client throws on a bad number below, and the gauge must not keep a closed tunnel.
    const tunnel = tunnels.get(e['record.id'])
    if (tunnel && tunnels.delete(e['record.id'])) m.tunnels.dec({ kind: tunnel })
    sentBy(kind).inc(e['guarded.bytes.sent'])
    receivedBy(kind).inc(e['guarded.bytes.received'])
    lasted(`${kind} ${e['guarded.outcome']}`).observe(e['guarded.duration_ms'] / 1000)
  }
  return {
    sink: (event: ProxyEvent) => (event.type === 'decision' ? onDecision(event) : onClose(event)),
    registry,
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    policyReload: (ok) => m.reloads.inc({ result: ok ? 'ok' : 'error' }),
    approvalsPending: (count) => m.approvalsPending.set(count),
    auditDrops: (read) => void (readDrops = read),
  }
}

/** Memoises one label child per key; the keys come from closed sets, so the map stays small. */
function cached<T>(make: (key: string) => T): (key: string) => T {
  const children = new Map<string, T>()
  return (key) => {
    let child = children.get(key)
    if (child === undefined) children.set(key, (child = make(key)))
    return child
  }
}

/** Approval fields arrive with the approvals issue; read them without widening the event type here. */
function approvalLatencyMs(event: DecisionEvent): number | undefined {
  const value = (event as { readonly 'guarded.approval.latency_ms'?: unknown })['guarded.approval.latency_ms']
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined
}

function defineMetrics(registry: Registry, readDrops: () => number) {
  const registers = [registry]
  let dropsSeen = 0
  const m = {
    decisions: new Counter({ name: 'guarded_decisions_total', help: 'Connections and requests decided, by policy classification (none for malformed requests), verdict and kind.', labelNames: ['classification', 'verdict', 'kind'] as const, registers }),
    refusals: new Counter({ name: 'guarded_refusals_total', help: 'Connections and requests refused, by reason code (the X-Guarded-Decision value).', labelNames: ['reason'] as const, registers }),
    tunnels: new Gauge({ name: 'guarded_active_tunnels', help: 'Allowed CONNECT tunnels and WebSocket upgrades open now, by kind.', labelNames: ['kind'] as const, registers }),
    sent: new Counter({ name: 'guarded_sent_bytes_total', help: 'Bytes sent to destinations (guarded.bytes.sent), by kind.', labelNames: ['kind'] as const, registers }),
    received: new Counter({ name: 'guarded_received_bytes_total', help: 'Bytes received from destinations (guarded.bytes.received), by kind.', labelNames: ['kind'] as const, registers }),
    duration: new Histogram({ name: 'guarded_connection_duration_seconds', help: 'Time from accepting a connection or request to its close, by kind and outcome.', labelNames: ['kind', 'outcome'] as const, buckets: DURATION_BUCKETS, registers }),
    approvalsPending: new Gauge({ name: 'guarded_approvals_pending', help: 'Requests waiting for an approver now.', registers }),
    approvalLatency: new Histogram({ name: 'guarded_approval_latency_seconds', help: 'Time an approval took to settle, by the verdict it produced.', labelNames: ['verdict'] as const, buckets: APPROVAL_BUCKETS, registers }),
    reloads: new Counter({ name: 'guarded_policy_reloads_total', help: 'Policy reloads, by result (error: the last good policy stayed in force).', labelNames: ['result'] as const, registers }),
    drops: new Counter({
      name: 'guarded_audit_records_dropped_total',
      help: 'Audit records dropped because the log could not keep up (only when it is set to drop rather than block).',
      registers,
      // Read at scrape time from the audit log's own count, so nothing is missed between scrapes.
      collect() {
        const now = readDrops()
        if (now > dropsSeen) this.inc(now - dropsSeen)
        dropsSeen = Math.max(dropsSeen, now)
      },
    }),
  }
  // Zeroes from the start, so `rate()` and `increase()` see the first event rather than a new series.
  for (const reason of REFUSAL_REASONS) m.refusals.inc({ reason }, 0)
  for (const result of ['ok', 'error']) m.reloads.inc({ result }, 0)
  for (const kind of ['connect', 'upgrade']) m.tunnels.set({ kind }, 0)
  return m
}
