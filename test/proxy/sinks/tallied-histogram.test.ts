/** The tallied histogram must scrape exactly as prom-client's own histogram fed the same observations. */
import { Histogram, Registry } from 'prom-client'
import t from 'tap'
import { TalliedHistogram } from '../../../proxy/sinks/tallied-histogram.js'

const BUCKETS = [0.005, 0.1, 1, 30]
const CONFIG = { name: 'test_duration_seconds', help: 'A test histogram.', labelNames: ['kind', 'outcome'] as const, buckets: BUCKETS }

/** Observations on two label sets, with values on a bound, between bounds, below the first and above the last. */
const OBSERVED: [string, string, number][] = [
  ['connect', 'completed', 0.005],
  ['connect', 'completed', 0.0051],
  ['connect', 'completed', 0],
  ['connect', 'completed', 29.9],
  ['connect', 'completed', 31],
  ['http', 'refused', 0.1],
  ['http', 'refused', 0.09],
  ['connect', 'completed', 1],
]

function both(): { ours: TalliedHistogram<'kind' | 'outcome'>; theirs: Histogram<'kind' | 'outcome'>; oursText: () => Promise<string>; theirsText: () => Promise<string> } {
  const oursRegistry = new Registry()
  const theirsRegistry = new Registry()
  const ours = new TalliedHistogram({ ...CONFIG, registers: [oursRegistry] })
  const theirs = new Histogram({ ...CONFIG, labelNames: [...CONFIG.labelNames], registers: [theirsRegistry] })
  return { ours, theirs, oursText: () => oursRegistry.metrics(), theirsText: () => theirsRegistry.metrics() }
}

t.test('the exposition is byte for byte what prom-client writes for the same observations', async (t) => {
  const { ours, theirs, oursText, theirsText } = both()
  for (const [kind, outcome, value] of OBSERVED) {
    ours.series(kind, outcome).observe(value)
    theirs.observe({ kind, outcome }, value)
  }
  const text = await oursText()
  t.equal(text, await theirsText())
  t.match(text, /^test_duration_seconds_bucket\{le="\+Inf",kind="connect",outcome="completed"\} 6$/m, 'the +Inf bucket counts the value above the last bound')
  t.match(text, /^test_duration_seconds_bucket\{le="0.005",kind="connect",outcome="completed"\} 2$/m, 'a value on a bound counts in that bucket')
})

t.test('JSON export and reset agree with prom-client too', async (t) => {
  const { ours, theirs } = both()
  for (const [kind, outcome, value] of OBSERVED) {
    ours.series(kind, outcome).observe(value)
    theirs.observe({ kind, outcome }, value)
  }
  // prom-client also lists `exemplar: null`, which no exporter of ours uses.
  const plain = (m: { name: string; help: string; type: unknown; values: { labels: object; value: number; metricName?: string }[] }): object =>
    ({ name: m.name, help: m.help, type: String(m.type), values: m.values.map(({ labels, value, metricName }) => ({ labels, value, metricName })) })
  t.same(plain(await ours.get()), plain(await theirs.get()), 'get() gives the same values')
  ours.reset()
  const after = await ours.get()
  t.ok(after.values.every((v) => v.value === 0), 'reset zeroes every series (they stay listed, as counters do)')
  ours.series('http', 'refused').observe(2)
  t.equal(after.values.length, (await ours.get()).values.length, 'a series seen before reset is reused, not listed twice')
})

t.test('bad input is refused with a clear error and counts nothing', async (t) => {
  const { ours, oursText } = both()
  const series = ours.series('http', 'completed')
  t.throws(() => series.observe(Number.NaN), /not a number to observe: NaN/)
  t.throws(() => series.observe(Number.POSITIVE_INFINITY), /not a number to observe/)
  t.throws(() => ours.series('http'), /takes 2 label values, not 1/)
  t.match(await oursText(), /^test_duration_seconds_count\{kind="http",outcome="completed"\} 0$/m, 'nothing was counted')
})
