/**
 * Parses a W3C `traceparent` header (https://www.w3.org/TR/trace-context/#traceparent-header).
 * Ours rather than `@opentelemetry/core`'s propagator: that package is not a direct dependency, and
 * we hold a string from an event, not a carrier of headers.
 */
import { isSpanContextValid, type SpanContext } from '@opentelemetry/api'

// Version 00 is exactly this; later versions may append fields after a dash, which we ignore (§3.2.4).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** The remote span context, or undefined for anything malformed, all-zero or of the forbidden version `ff`. */
export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  const m = TRACEPARENT.exec(header?.trim() ?? '')
  if (!m) return undefined
  const [, version, traceId = '', spanId = '', flags = '', rest] = m
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  const context: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16) & 0xff, isRemote: true }
  return isSpanContextValid(context) ? context : undefined
}
