/** Event factories for the sink tests: real `DecisionEvent`/`CloseEvent` objects, as record.ts emits them. */
import type { CloseEvent, DecisionEvent } from '../../../proxy/events.js'

/** A decision for `id`; fields override the allowed-CONNECT defaults. */
export function decision(id: string, fields: Partial<Omit<DecisionEvent, 'type' | 'record.id'>> = {}): DecisionEvent {
  return {
    type: 'decision',
    time: '2025-01-01T00:00:00.500Z',
    'record.id': id,
    'record.kind': 'connect',
    'session.id': 'sess-secret-7f3a',
    'guarded.prompt.id': 'prompt-secret-91c2',
    'guarded.prompt.source': 'header',
    'client.address': '127.0.0.1',
    'server.address': 'api.example-secret.test',
    'server.port': 443,
    'network.peer.address': '203.0.113.9',
    'http.request.method': 'CONNECT',
    'guarded.classification': 'allowed',
    'guarded.verdict': 'allow',
    'guarded.reason': 'allowed',
    'guarded.rule': '*.example-secret.test',
    ...fields,
  }
}

/** The close for `id`; fields override a completed, 1.5-second close. */
export function close(id: string, fields: Partial<Omit<CloseEvent, 'type' | 'record.id'>> = {}): CloseEvent {
  return {
    type: 'close',
    time: '2025-01-01T00:00:02.000Z',
    'record.id': id,
    'record.kind': 'connect',
    'session.id': 'sess-secret-7f3a',
    'guarded.outcome': 'completed',
    'guarded.bytes.sent': 100,
    'guarded.bytes.received': 2000,
    'guarded.duration_ms': 1500,
    ...fields,
  }
}

/**
 * A decision with every key set. Typed `Required<>`: a key added to the events does not compile here
 * until it is given a value, and the writers' tests then fail until they write it.
 */
export function everyDecisionKey(id = 'all-keys'): Required<DecisionEvent> {
  return {
    type: 'decision',
    time: '2025-01-01T00:00:00.500Z',
    'record.id': id,
    'record.kind': 'http',
    'session.id': 'sess-secret-7f3a',
    'guarded.prompt.id': 'prompt-secret-91c2',
    'guarded.prompt.source': 'admin',
    'guarded.prompt.text': 'fix the build; the token is hunter2',
    'client.address': '127.0.0.1',
    'server.address': 'api.example-secret.test',
    'server.port': 443,
    'network.peer.address': '203.0.113.9',
    'http.request.method': 'POST',
    'url.path': '/repos/acme/x',
    'guarded.classification': 'unknown',
    'guarded.verdict': 'allow',
    'guarded.reason': 'approved',
    'guarded.would_verdict': 'ask',
    'guarded.rule': '*.example-secret.test',
    'guarded.approval.by': 'alice',
    'guarded.approval.scope': 'session',
    'guarded.approval.latency_ms': 2500.5,
    'trace.parent': '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  }
}

/** A close with every key set (see `everyDecisionKey`). */
export function everyCloseKey(id = 'all-keys'): Required<CloseEvent> {
  return {
    type: 'close',
    time: '2025-01-01T00:00:02.000Z',
    'record.id': id,
    'record.kind': 'http',
    'session.id': 'sess-secret-7f3a',
    'guarded.outcome': 'upstream-error',
    'guarded.bytes.sent': 100,
    'guarded.bytes.received': 2000,
    'guarded.duration_ms': 1500.25,
    'error.type': 'ECONNRESET',
  }
}

/**
 * `base` with one key changed, for every key but `type`: a new value, and for keys a decision may
 * lack, the key left out. A writer that reuses text from an earlier record must show each change.
 */
export function oneKeyChanged(base: Required<DecisionEvent>): [string, DecisionEvent][] {
  const variants: [string, DecisionEvent][] = []
  for (const [key, value] of Object.entries(base)) {
    if (key === 'type') continue
    variants.push([`${key} changed`, { ...base, [key]: typeof value === 'number' ? value + 1 : `${value}-changed` }])
    if (!REQUIRED_DECISION_KEYS.has(key)) {
      const { [key as keyof DecisionEvent]: _left, ...without } = base
      variants.push([`${key} left out`, without as DecisionEvent])
    }
  }
  return variants
}

const REQUIRED_DECISION_KEYS = new Set(['time', 'record.id', 'record.kind', 'session.id', 'client.address', 'guarded.verdict', 'guarded.reason'])
