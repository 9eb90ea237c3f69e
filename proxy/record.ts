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
  decided: boolean
}

/** Starts a record for a new connection or request. */
export function openRecord(kind: ConnectionRecord['kind'], clientAddress: string, sessionId: string): ConnectionRecord {
  return { id: randomUUID(), kind, started: performance.now(), clientAddress, sessionId, bytesSent: 0, bytesReceived: 0, decided: false }
}

/** Emits the decision event, once, and returns it; later calls return undefined so no path can double-count. */
export function emitDecision(events: EventBus, record: ConnectionRecord, verdict: Verdict, reason: ReasonCode): DecisionEvent | undefined {
  if (record.decided) return undefined
  record.decided = true
  const d = record.destination
  const event: DecisionEvent = {
    type: 'decision',
    time: new Date().toISOString(),
    'record.id': record.id,
    'record.kind': record.kind,
    'session.id': record.sessionId,
    ...(record.prompt && { 'guarded.prompt.id': record.prompt.id, 'guarded.prompt.source': record.prompt.source }),
    ...(record.prompt?.text !== undefined && { 'guarded.prompt.text': record.prompt.text }),
    'client.address': record.clientAddress,
    ...(d && { 'server.address': d.host, 'server.port': d.port }),
    ...(record.peerAddress && { 'network.peer.address': record.peerAddress }),
    ...(record.method && { 'http.request.method': record.method }),
    ...(record.path !== undefined && { 'url.path': record.path }),
    ...(record.decision && { 'guarded.classification': record.decision.classification }),
    'guarded.verdict': verdict,
    'guarded.reason': reason,
    ...(record.wouldVerdict && { 'guarded.would_verdict': record.wouldVerdict }),
    ...(record.decision?.rule && { 'guarded.rule': record.decision.rule.pattern }),
    ...(record.approval?.by !== undefined && { 'guarded.approval.by': record.approval.by }),
    ...(record.approval?.scope !== undefined && { 'guarded.approval.scope': record.approval.scope }),
    ...(record.approval && { 'guarded.approval.latency_ms': record.approval.latencyMs }),
    ...(record.traceParent && { 'trace.parent': record.traceParent }),
  }
  events.emit(event)
  return event
}

/** Emits the close event; call it exactly once, from the handler's `finally`. */
export function emitClose(events: EventBus, record: ConnectionRecord): void {
  const event: CloseEvent = {
    type: 'close',
    time: new Date().toISOString(),
    'record.id': record.id,
    'record.kind': record.kind,
    'session.id': record.sessionId,
    'guarded.outcome': record.outcome ?? 'completed',
    'guarded.bytes.sent': record.bytesSent,
    'guarded.bytes.received': record.bytesReceived,
    'guarded.duration_ms': Math.round((performance.now() - record.started) * 1000) / 1000,
    ...(record.errorType && { 'error.type': record.errorType }),
  }
  events.emit(event)
}
