/** One connection's or request's record: filled in by the stages, emitted as exactly one decision and one close. */
import { randomUUID } from 'node:crypto'
import type { ReasonCode } from '../policy/reasons.js'
import type { Action, Decision, Destination, Verdict } from '../policy/types.js'
import type { CloseEvent, DecisionEvent, EventBus, Outcome } from './events.js'
import type { Prompt } from './sessions.js'

/** Mutable while the connection is served; stages write the fields they own. */
export interface ConnectionRecord {
  readonly id: string
  readonly kind: 'connect' | 'http' | 'upgrade'
  readonly started: number
  readonly clientAddress: string
  sessionId: string
  prompt?: Prompt
  traceParent?: string
  /** Set when an approval settled this record. */
  approval?: { readonly by?: string; readonly scope?: string; readonly latencyMs: number }
  method?: string
  /** Audit mode only: what enforce would have done (`ask` = it would have sought an approval). */
  wouldVerdict?: Action
  /** Canonical request path, query removed (requests only). */
  path?: string
  destination?: Destination
  decision?: Decision
  peerAddress?: string
  bytesSent: number
  bytesReceived: number
  outcome?: Outcome
  errorType?: string
  /** The decision event, once emitted; the close carries it to the sinks. */
  emitted?: DecisionEvent
  /** Set once the close is emitted. */
  closed?: true
}

/** Starts a record for a new connection or request. */
export function openRecord(kind: ConnectionRecord['kind'], clientAddress: string, sessionId: string): ConnectionRecord {
  return { id: randomUUID(), kind, started: performance.now(), clientAddress, sessionId, bytesSent: 0, bytesReceived: 0 }
}

/** Emits the decision event, once, and returns it; later calls return undefined so no path can double-count. */
export function emitDecision(events: EventBus, record: ConnectionRecord, verdict: Verdict, reason: ReasonCode): DecisionEvent | undefined {
  if (record.emitted) return undefined
  const d = record.destination
  // Built by assignment rather than conditional spreads: this runs for every request, and each spread
  // allocated a temporary object.
  const event: Mutable<DecisionEvent> = {
    type: 'decision',
    time: isoNow(),
    'record.id': record.id,
    'record.kind': record.kind,
    'session.id': record.sessionId,
    'client.address': record.clientAddress,
    'guarded.verdict': verdict,
    'guarded.reason': reason,
  }
  if (record.prompt) {
    event['guarded.prompt.id'] = record.prompt.id
    event['guarded.prompt.source'] = record.prompt.source
    if (record.prompt.text !== undefined) event['guarded.prompt.text'] = record.prompt.text
  }
  if (d) {
    event['server.address'] = d.host
    event['server.port'] = d.port
  }
  if (record.peerAddress) event['network.peer.address'] = record.peerAddress
  if (record.method) event['http.request.method'] = record.method
  if (record.decision) event['guarded.classification'] = record.decision.classification
  if (record.wouldVerdict) event['guarded.would_verdict'] = record.wouldVerdict
  if (record.decision?.rule) event['guarded.rule'] = record.decision.rule.pattern
  if (record.approval?.by !== undefined) event['guarded.approval.by'] = record.approval.by
  if (record.approval?.scope !== undefined) event['guarded.approval.scope'] = record.approval.scope
  // What varies from one request to the next comes last: the sinks reuse the text of everything above
  // for a destination's next record (sinks/shared-fragments.ts).
  if (record.path !== undefined) event['url.path'] = record.path
  if (record.approval) event['guarded.approval.latency_ms'] = record.approval.latencyMs
  if (record.traceParent) event['trace.parent'] = record.traceParent
  record.emitted = event
  events.emit(event)
  return event
}

/**
 * Emits the close event, with the record's decision, from the handler's `finally`; later calls emit
 * nothing, so no sink (a span, the tunnel gauge) can count a record's end twice.
 */
export function emitClose(events: EventBus, record: ConnectionRecord): void {
  if (record.closed) return
  record.closed = true
  const event: Mutable<CloseEvent> = {
    type: 'close',
    time: isoNow(),
    'record.id': record.id,
    'record.kind': record.kind,
    'session.id': record.sessionId,
    'guarded.outcome': record.outcome ?? 'completed',
    'guarded.bytes.sent': record.bytesSent,
    'guarded.bytes.received': record.bytesReceived,
    'guarded.duration_ms': Math.round((performance.now() - record.started) * 1000) / 1000,
  }
  if (record.errorType) event['error.type'] = record.errorType
  events.emit(event, record.emitted)
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

// Formatting a date costs about a microsecond, and a busy proxy stamps a record in most milliseconds:
// the date and time up to the second are formatted once a second, the milliseconds appended.
let lastSecond = -1
let secondPrefix = ''

/** The current time as an ISO 8601 string in UTC with milliseconds, as `Date#toISOString` writes it. */
export function isoNow(ms = Date.now()): string {
  const second = Math.floor(ms / 1000)
  if (second !== lastSecond) {
    lastSecond = second
    secondPrefix = new Date(second * 1000).toISOString().slice(0, 20) // through the '.'
  }
  const milli = ms - second * 1000
  return `${secondPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`
}
