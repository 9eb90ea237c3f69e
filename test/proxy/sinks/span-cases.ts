/** Spans both OTLP encoders are checked with against the SDK's serializers (span-encoder and span-protobuf tests). */
import { resourceFromAttributes } from '@opentelemetry/resources'
import type { CloseEvent, DecisionEvent } from '../../../proxy/events.js'
import type { SpanOrigin } from '../../../proxy/sinks/record-span.js'
import { close, decision, everyCloseKey, everyDecisionKey } from './events.js'

/** A resource with a quote and a non-ASCII value, so that escaping and UTF-8 are checked too, and with an int, a double and a bool. */
export const origin: SpanOrigin = {
  resource: resourceFromAttributes({ 'service.name': 'guarded-test', 'deployment.environment': 'ci "quoted"', 'k8s.pod.uid': 'é', 'process.pid': 4242, 'guarded.weight': 0.5, 'guarded.canary': true }),
  instrumentationScope: { name: 'guarded' },
}

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

/** Each case: why, then the decision and the close of its span. */
export const cases: [string, DecisionEvent, CloseEvent][] = [
  ['every key of both records, an upstream error', everyDecisionKey(), everyCloseKey()],
  ['an allowed tunnel', decision('tunnel'), close('tunnel')],
  ['a refusal is an error with its reason', decision('deny', { 'guarded.verdict': 'deny', 'guarded.reason': 'blocked', 'guarded.classification': 'blocked' }), close('deny', { 'guarded.outcome': 'refused' })],
  ['a request with the client\'s traceparent', decision('child', { 'record.kind': 'http', 'http.request.method': 'POST', 'trace.parent': TRACEPARENT }), close('child', { 'record.kind': 'http' })],
  ['a malformed request without a method', decision('bad', { 'record.kind': 'http', 'http.request.method': undefined, 'guarded.verdict': 'deny', 'guarded.reason': 'bad-request' }), close('bad')],
  ['awkward strings and a fractional duration', decision('q"uo\\te', { 'server.address': 'é.example', 'guarded.rule': 'line\nbreak', 'session.id': '\ud800' }), close('q"uo\\te', { 'guarded.duration_ms': 0.125, 'guarded.bytes.received': 2 ** 40 })],
  ['strings whose lengths take two and three bytes', decision('long', { 'url.path': `/${'p'.repeat(20_000)}`, 'guarded.rule': 'r'.repeat(200) }), close('long')],
  ['numbers no record should hold: negative, and past 2^53', decision('odd', { 'guarded.approval.latency_ms': -3 }), close('odd', { 'guarded.bytes.sent': -1, 'guarded.bytes.received': 2 ** 60 })],
]
