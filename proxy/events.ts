/** The record bus: stages emit finished records here once; sinks (audit log, spans, metrics) subscribe. */
import type { Action, Classification, Verdict } from '../policy/types.js'
import type { ReasonCode } from '../policy/reasons.js'
import type { PromptSource } from './sessions.js'

/** Attribute keys are the same in the audit log and on spans (issue 4 fixes the names). */
export interface DecisionEvent {
  readonly type: 'decision'
  readonly time: string
  readonly 'record.id': string
  readonly 'record.kind': 'connect' | 'http' | 'upgrade'
  readonly 'session.id': string
  readonly 'guarded.prompt.id'?: string
  readonly 'guarded.prompt.source'?: PromptSource
  /** Audit log only: the span sink hashes it and metrics never see it. */
  readonly 'guarded.prompt.text'?: string
  readonly 'client.address': string
  readonly 'server.address'?: string
  readonly 'server.port'?: number
  readonly 'network.peer.address'?: string
  readonly 'http.request.method'?: string
  /** The canonical request path, query removed, for plain-HTTP and inspected requests. */
  readonly 'url.path'?: string
  readonly 'guarded.classification'?: Classification
  readonly 'guarded.verdict': Verdict
  readonly 'guarded.reason': ReasonCode
  /** Audit mode only: what enforce would have done; its presence says the proxy was in audit mode. */
  readonly 'guarded.would_verdict'?: Action
  readonly 'guarded.rule'?: string
  readonly 'guarded.approval.by'?: string
  readonly 'guarded.approval.scope'?: string
  readonly 'guarded.approval.latency_ms'?: number
  /** W3C `traceparent` the client sent on a plain-HTTP request, so spans can join the agent's trace. */
  readonly 'trace.parent'?: string
}

/** How a connection or request ended. */
export type Outcome = 'refused' | 'completed' | 'client-closed' | 'upstream-closed' | 'upstream-error' | 'timeout' | 'shutdown'

/** Emitted once when the connection or request is over. */
export interface CloseEvent {
  readonly type: 'close'
  readonly time: string
  readonly 'record.id': string
  readonly 'record.kind': 'connect' | 'http' | 'upgrade'
  readonly 'session.id': string
  readonly 'guarded.outcome': Outcome
  readonly 'guarded.bytes.sent': number
  readonly 'guarded.bytes.received': number
  readonly 'guarded.duration_ms': number
  readonly 'error.type'?: string
}

/** Anything a sink can receive. */
export type ProxyEvent = DecisionEvent | CloseEvent

/**
 * A subscriber; it must not throw (a throwing sink is reported, never allowed to break a connection).
 * A close comes with its record's decision, so a sink that needs both keeps no table of records
 * still open: such a table, written twice per request, kept every decision alive long enough for the
 * garbage collector to copy it (issue 4). `decision` is undefined only for a close emitted without one.
 */
export type Sink = (event: ProxyEvent, decision?: DecisionEvent) => void

/** A sink that can fall behind tells the bus, so new connections wait instead of going unrecorded. */
export interface Gate {
  /** True while the sink holds as many records as it may buffer. */
  full(): boolean
  /** Resolves when there is room again (or never: the caller bounds the wait). */
  room(): Promise<void>
}

/** Fan-out of records to sinks. */
export interface EventBus {
  emit(event: ProxyEvent, decision?: DecisionEvent): void
  subscribe(sink: Sink): () => void
  addGate(gate: Gate): void
  /** True at once when every gated sink has room; otherwise waits up to `ms` for room. */
  waitForRoom(ms: number, gone?: () => AbortSignal): true | Promise<boolean>
}

/** Creates a bus; `onSinkError` hears about sinks that throw. */
export function createEventBus(onSinkError: (err: unknown) => void = () => {}): EventBus {
  const sinks = new Set<Sink>()
  const gates: Gate[] = []
  const full = (): Gate | undefined => gates.find((g) => g.full())
  return {
    emit(event, decision) {
      for (const sink of sinks) {
        try {
          sink(event, decision)
        } catch (err) {
          onSinkError(err)
        }
      }
    },
    subscribe(sink) {
      sinks.add(sink)
      return () => sinks.delete(sink)
    },
    addGate: (gate) => void gates.push(gate),
    waitForRoom(ms, gone) {
      if (!full()) return true // the hot path: no promise, no timer, no signal
      return waitForRoom(full, ms, gone?.())
    },
  }
}

async function waitForRoom(full: () => Gate | undefined, ms: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + ms
  for (let gate = full(); gate; gate = full()) {
    const left = deadline - Date.now()
    if (left <= 0 || signal?.aborted) return false
    let timer: NodeJS.Timeout | undefined
    await Promise.race([gate.room(), new Promise((resolve) => (timer = setTimeout(resolve, left)))])
    clearTimeout(timer)
  }
  return true
}
