/** OTEL_TRACES_SAMPLER: which records the span sink exports, checked at a real OTLP receiver. */
import t, { type Test } from 'tap'
import { readOtlpConfig } from '../../../proxy/sinks/otlp-config.js'
import { readSpanSampler } from '../../../proxy/sinks/span-sampling.js'
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js'
import { ended, start } from './span-sinks.js'
import type { SpanSink } from '../../../proxy/sinks/otel-spans.js'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const SAMPLED = `00-${TRACE_ID}-00f067aa0ba902b7-01`
const UNSAMPLED = `00-${TRACE_ID}-00f067aa0ba902b7-00`

/** A sink exporting to its own receiver, with `env` as its environment. */
async function sinkWith(t: Test, env: NodeJS.ProcessEnv): Promise<{ spans: SpanSink; receiver: OtlpReceiver; exported: () => string[] }> {
  const receiver = await startOtlpReceiver(t)
  const spans = start(t, { endpoint: receiver.url, env })
  return { spans, receiver, exported: () => receiver.spans().map((s) => String(s.attributes['record.id'])).sort() }
}

t.test('always_off: no span at all, not even for a client that asks for its trace to be sampled', async (t) => {
  const { spans, receiver } = await sinkWith(t, { OTEL_TRACES_SAMPLER: 'always_off' })
  for (let i = 0; i < 20; i++) ended(spans, `r${i}`, { 'trace.parent': i % 2 ? SAMPLED : undefined })
  ended(spans, 'denied', { 'guarded.verdict': 'deny', 'guarded.reason': 'blocked' })
  await spans.flush()
  t.equal(receiver.requests.length, 0, 'nothing was sent to the collector')
})

t.test('parentbased_always_off: only the requests whose client trace is sampled', async (t) => {
  const { spans, exported } = await sinkWith(t, { OTEL_TRACES_SAMPLER: 'parentbased_always_off' })
  ended(spans, 'sampled', { 'trace.parent': SAMPLED })
  ended(spans, 'unsampled', { 'trace.parent': UNSAMPLED })
  ended(spans, 'no-parent')
  ended(spans, 'malformed', { 'trace.parent': `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` })
  await spans.flush()
  t.same(exported(), ['sampled'], 'an all-zero trace ID is no parent, whatever its flag says')
})

t.test('parentbased_always_on, set or left as the default: a client that marks its trace unsampled cannot drop its span', async (t) => {
  for (const env of [{ OTEL_TRACES_SAMPLER: 'parentbased_always_on' }, { OTEL_TRACES_SAMPLER: 'Always_On ' }, {}]) {
    const { spans, exported } = await sinkWith(t, env)
    ended(spans, 'unsampled', { 'trace.parent': UNSAMPLED })
    ended(spans, 'no-parent')
    await spans.flush()
    t.same(exported(), ['no-parent', 'unsampled'], JSON.stringify(env))
  }
})

t.test('traceidratio keeps about that share, drawn per request: a client cannot pick a trace ID that is never kept', async (t) => {
  const { spans, exported } = await sinkWith(t, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })
  // Every request in one client trace: the SDK's sampler, reading the trace ID, keeps all or none.
  // 2,000 draws at 0.25: mean 500, standard deviation 19.4; outside 400–600 is five deviations away.
  for (let i = 0; i < 2000; i++) ended(spans, `r${i}`, { 'trace.parent': i % 2 ? UNSAMPLED : SAMPLED })
  await spans.flush()
  const kept = exported().length
  t.ok(kept >= 400 && kept <= 600, `kept ${kept} of 2000`)
})

t.test('parentbased_traceidratio: a sampled client trace keeps its span; the rest are drawn at the ratio', async (t) => {
  const { spans, exported } = await sinkWith(t, { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })
  ended(spans, 'sampled', { 'trace.parent': SAMPLED })
  ended(spans, 'unsampled', { 'trace.parent': UNSAMPLED })
  ended(spans, 'no-parent')
  await spans.flush()
  t.same(exported(), ['sampled'])
})

t.test('the ratio is 1 when OTEL_TRACES_SAMPLER_ARG is unset, and ignored by samplers that take none', async (t) => {
  const { spans, exported } = await sinkWith(t, { OTEL_TRACES_SAMPLER: 'traceidratio' })
  for (let i = 0; i < 50; i++) ended(spans, `r${String(i).padStart(2, '0')}`)
  await spans.flush()
  t.equal(exported().length, 50)
  t.equal(readSpanSampler({ OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: 'not a number' }), undefined)
})

const refusals: [why: string, env: NodeJS.ProcessEnv, message: RegExp][] = [
  ['a sampler we do not have', { OTEL_TRACES_SAMPLER: 'jaeger_remote' }, /^OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, not "jaeger_remote"$/],
  ['a ratio above 1', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, /^OTEL_TRACES_SAMPLER_ARG must be a probability from 0 to 1 for traceidratio, not "1.5"$/],
  ['a negative ratio', { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '-0.1' }, /OTEL_TRACES_SAMPLER_ARG must be a probability from 0 to 1/],
  ['a ratio that is not a number', { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '10%' }, /not "10%"/],
]
for (const [why, env, message] of refusals) {
  t.test(`refuses to start on ${why}`, async (t) => {
    t.throws(() => readOtlpConfig({ env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' } }), { name: 'ConfigError', message })
  })
}

t.test('no endpoint, no spans: the sampler is not read, so a bad one cannot stop a proxy that exports nothing', async (t) => {
  t.equal(readOtlpConfig({ env: { OTEL_TRACES_SAMPLER: 'xray' } }), undefined)
})
