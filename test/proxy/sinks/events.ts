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
