/**
 * A Prometheus histogram whose observations are counted in plain numbers per label set, and read by
 * prom-client's registry only when `/metrics` is scraped. prom-client's own `observe` validates and
 * hashes the labels on every call, and the connection-duration histogram is observed at every close;
 * the counters of metrics.ts are kept the same way (issue 4). The exposition is prom-client's: this
 * only supplies the values, in the shape its own histograms give them.
 */
import type { LabelValues, Metric, MetricValueWithName, Registry } from 'prom-client'

/** One label set's counts: per bucket (not cumulative), plus the sum and count of what was observed. */
interface Series {
  readonly labels: Record<string, string>
  readonly buckets: number[]
  sum: number
  count: number
}

/** A histogram's values as prom-client's registry reads them (its types spell `type` as a numeric enum; at run time it is this string). */
export interface HistogramValues<T extends string> {
  readonly name: string
  readonly help: string
  readonly type: 'histogram'
  readonly aggregator: 'sum'
  readonly values: MetricValueWithName<T>[]
}

/** Observes into one label set. */
export interface HistogramSeries {
  observe(value: number): void
}

/** What the registry reads from a metric: its name, its values (`getForPromString` for the text format, `get` for JSON), and `reset`. */
export class TalliedHistogram<T extends string> {
  readonly name: string
  readonly help: string
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly #labelNames: readonly T[]
  readonly #bounds: readonly number[]
  /** Every series by its label values joined; Map order is the order of first use, which the exposition keeps. */
  readonly #byValues = new Map<string, Series>()

  constructor(config: { name: string; help: string; labelNames: readonly T[]; buckets: readonly number[]; registers: readonly Registry[] }) {
    this.name = config.name
    this.help = config.help
    this.#labelNames = config.labelNames
    this.#bounds = [...config.buckets].sort((a, b) => a - b)
    // prom-client's registry takes any object of this shape; its types list only its own four classes.
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric)
  }

  /**
   * The series for these label values, in `labelNames` order, created at first use. Call it once per
   * label set and keep what it returns (metrics.ts memoises it): observing is then a few additions.
   */
  series(...values: string[]): HistogramSeries {
    if (values.length !== this.#labelNames.length) throw new TypeError(`${this.name} takes ${this.#labelNames.length} label values, not ${values.length}`)
    const key = values.join('\u0000')
    let series = this.#byValues.get(key)
    if (series === undefined) {
      const labels = Object.fromEntries(this.#labelNames.map((name, i) => [name, values[i]!]))
      series = { labels, buckets: this.#bounds.map(() => 0), sum: 0, count: 0 }
      this.#byValues.set(key, series)
    }
    const found = series
    return { observe: (value) => this.#observe(found, value) }
  }

  #observe(series: Series, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name}: not a number to observe: ${value}`)
    series.sum += value
    series.count++
    const bounds = this.#bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) return void series.buckets[i]!++
    }
    // Above the last bound: only the +Inf bucket (the count) holds it.
  }

  /** What prom-client's registry reads for the text exposition. */
  async getForPromString(): Promise<HistogramValues<T>> {
    return this.get()
  }

  async get(): Promise<HistogramValues<T>> {
    const values: MetricValueWithName<T>[] = []
    const bucket = `${this.name}_bucket`
    for (const series of this.#byValues.values()) {
      const labels = series.labels as LabelValues<T>
      let cumulative = 0
      this.#bounds.forEach((bound, i) => {
        cumulative += series.buckets[i]!
        values.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: bucket })
      })
      values.push({ labels: { le: '+Inf', ...labels }, value: series.count, metricName: bucket })
      values.push({ labels, value: series.sum, metricName: `${this.name}_sum` })
      values.push({ labels, value: series.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset(): void {
    for (const series of this.#byValues.values()) {
      series.buckets.fill(0)
      series.sum = 0
      series.count = 0
    }
  }
}
