/**
 * Which records get a span: the standard OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#general-sdk-configuration),
 * so a platform team can keep a share of the spans while the audit log keeps every record.
 *
 * Not the SDK's samplers, because the client is the party being watched and both of theirs let it
 * decide: a parent-based sampler drops the span of a request whose `traceparent` says unsampled, and
 * the ratio sampler reads the trace ID, which a client that sends `traceparent` picks itself. Here a
 * client's sampled flag can keep its span but never drop it, and the ratio is the proxy's own draw.
 * So `parentbased_always_on`, the spec's default, is every span, as it was before this was read.
 */
import { ConfigError } from '../errors.js'
import { parseTraceparent } from './parse-traceparent.js'

/** Whether the record with this `trace.parent` gets a span. */
export type SpanSampler = (traceParent: string | undefined) => boolean

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const
type SamplerName = (typeof SAMPLERS)[number]

/** The sampler the environment asks for, undefined when every record gets a span; throws `ConfigError` for one we do not have or a ratio outside 0–1. */
export function readSpanSampler(env: NodeJS.ProcessEnv): SpanSampler | undefined {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() || 'parentbased_always_on'
  if (!isSamplerName(name)) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(', ')}, not ${JSON.stringify(env.OTEL_TRACES_SAMPLER)}`)
  }
  switch (name) {
    case 'always_on':
    case 'parentbased_always_on':
      return undefined
    case 'always_off':
      return () => false
    case 'parentbased_always_off':
      return parentSampled
    case 'traceidratio':
      return drawn(ratio(env))
    case 'parentbased_traceidratio': {
      const draw = drawn(ratio(env))
      return (traceParent) => parentSampled(traceParent) || draw()
    }
  }
}

function isSamplerName(name: string): name is SamplerName {
  return (SAMPLERS as readonly string[]).includes(name)
}

/** The client's trace is sampled: its `traceparent` is valid and has the sampled flag. */
function parentSampled(traceParent: string | undefined): boolean {
  return traceParent !== undefined && ((parseTraceparent(traceParent)?.traceFlags ?? 0) & 1) === 1
}

/** True with probability `p`: `Math.random()` is below 1 always, and below 0 never. */
function drawn(p: number): () => boolean {
  return () => Math.random() < p
}

/** OTEL_TRACES_SAMPLER_ARG as a probability; unset means 1, as the spec says. */
function ratio(env: NodeJS.ProcessEnv): number {
  const text = env.OTEL_TRACES_SAMPLER_ARG?.trim()
  if (!text) return 1
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a probability from 0 to 1 for ${env.OTEL_TRACES_SAMPLER?.trim()}, not ${JSON.stringify(env.OTEL_TRACES_SAMPLER_ARG)}`)
  }
  return value
}
