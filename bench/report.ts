import { formatSections, perCpu, type Sections } from './format-sections.js'
import { CORES } from './spawn-pinned.js'
import type { ClassifyFigures, LoadFigures, PhaseResult, Via } from './types.js'

/** Other load on the proxy core above this share makes the comparison unreliable. */
const CONTENTION_WARNING = 0.1

/** Everything one run measured, plus the lines explaining what was skipped and why. */
export interface BenchReport extends Sections {
  readonly paths: Partial<Record<Via, LoadFigures>>
  readonly classify?: readonly ClassifyFigures[]
  readonly notes: readonly string[]
}

/** A goal relative to Squid from the issue: at least `ratio`× (or, for memory, at most). */
interface Target { readonly bound: 'min' | 'max'; readonly ratio: number }

interface Row {
  readonly label: string
  readonly pick: (f: LoadFigures) => number | undefined
  readonly digits: number
  readonly target?: Target
}

const ROWS: readonly Row[] = [
  { label: 'tunnel throughput, MB/s', pick: f => f.tunnelMBps.value, digits: 1, target: { bound: 'min', ratio: 0.55 } },
  { label: 'CONNECT tunnels/s (32 clients)', pick: f => f.connectPerS.value, digits: 0, target: { bound: 'min', ratio: 0.7 } },
  { label: '  CONNECT p50 latency, µs', pick: f => f.connectPerS.p50us, digits: 0 },
  { label: '  CONNECT p99 latency, µs', pick: f => f.connectPerS.p99us, digits: 0 },
  { label: 'plain HTTP req/s (32 keep-alive)', pick: f => f.httpPerS.value, digits: 0, target: { bound: 'min', ratio: 0.8 } },
  { label: 'memory per idle tunnel, KiB', pick: f => kib(f.idleBytesPerTunnel), digits: 1, target: { bound: 'max', ratio: 1 } },
]

function kib(bytes: number | undefined): number | undefined {
  return bytes === undefined ? undefined : bytes / 1024
}

function num(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits)
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b
}

/** PASS/BELOW for our figure against Squid's; a report, never a failed run. */
function verdict(target: Target | undefined, ours: number | undefined): string {
  if (!target || ours === undefined || !Number.isFinite(ours)) return ''
  const met = target.bound === 'min' ? ours >= target.ratio : ours <= target.ratio
  const goal = `${target.bound === 'min' ? '≥' : '≤'}${target.ratio}× squid`
  return `${goal.padEnd(13)} ${met ? 'PASS' : 'BELOW'}`
}

const COLUMNS = ['direct', 'guarded', 'squid', 'g/direct', 's/direct', 'g/squid'] as const

function formatRow(row: Row, paths: BenchReport['paths']): string {
  const v = (via: Via): number | undefined => (paths[via] ? row.pick(paths[via]) : undefined)
  const cells = [num(v('direct'), row.digits), num(v('guarded'), row.digits), num(v('squid'), row.digits),
    num(ratio(v('guarded'), v('direct')), 2), num(ratio(v('squid'), v('direct')), 2)]
  const ours = ratio(v('guarded'), v('squid'))
  return `${row.label.padEnd(34)}${cells.map(c => c.padStart(10)).join('')}${num(ours, 2).padStart(10)}  ${verdict(row.target, ours)}`
}

function pct(share: number | undefined): string {
  return `${num((share ?? NaN) * 100, 0)}%`
}

/** Proxy core share not used by the proxy: other processes on a shared machine. */
function otherLoad(p: PhaseResult): number {
  return Math.max(0, p.coreBusy - (p.proxyCpu ?? 0))
}

function phasesOf(f: LoadFigures): readonly (readonly [string, PhaseResult])[] {
  return [['tunnel', f.tunnelMBps], ['connect', f.connectPerS], ['http', f.httpPerS]]
}

/**
 * Direct ÷ proxy for each load phase, and who kept the proxy core busy: the bottleneck argument.
 * A proxy near 100% of its core is the bottleneck; a core busy with other processes means the
 * figure is low because the machine was shared, not because the proxy is slow.
 */
function headroom(paths: BenchReport['paths']): string[] {
  const direct = paths.direct
  if (!direct) return []
  return (['guarded', 'squid'] as const).flatMap(via => {
    const f = paths[via]
    if (!f) return []
    const parts = phasesOf(f).map(([name, p], i) =>
      `${name} ${num(ratio(phasesOf(direct)[i]![1].value, p.value), 1)}× (core ${CORES.proxy}: ${via} ${pct(p.proxyCpu)}, other ${pct(otherLoad(p))})`)
    return [`  direct ÷ ${via}: ${parts.join(', ')}`]
  })
}

/** Warns when other processes took a real share of the proxy core while a proxy was measured. */
function contention(paths: BenchReport['paths']): string[] {
  const worst = Math.max(0, ...(['guarded', 'squid'] as const).flatMap(via => {
    const f = paths[via]
    return f ? phasesOf(f).map(([, p]) => otherLoad(p)) : []
  }))
  if (worst < CONTENTION_WARNING) return []
  return [`WARNING: other processes used up to ${pct(worst)} of core ${CORES.proxy} during the proxy phases;` +
    ' proxy figures are low and noisy. Rerun on a quiet machine before comparing.']
}

/**
 * Each rate per second of proxy CPU. On a shared machine the raw rates say more about the
 * neighbours than the proxy; per CPU-second they stay comparable, if the proxy is CPU-bound.
 */
function efficiency(paths: BenchReport['paths']): string[] {
  const { guarded, squid } = paths
  if (!guarded && !squid) return []
  const lines = ([['tunnel MB', 1], ['CONNECT tunnels', 0], ['plain HTTP requests', 0]] as const).map(([label, digits], i) => {
    const g = guarded ? perCpu(phasesOf(guarded)[i]![1]) : undefined
    const q = squid ? perCpu(phasesOf(squid)[i]![1]) : undefined
    return `  ${label.padEnd(32)}${num(g, digits).padStart(10)}${num(q, digits).padStart(10)}${num(ratio(g, q), 2).padStart(10)}`
  })
  return ['', `per second of proxy CPU (an estimate for a whole core, if the proxy is CPU-bound)`,
    `  ${''.padEnd(32)}${'guarded'.padStart(10)}${'squid'.padStart(10)}${'g/squid'.padStart(10)}`, ...lines]
}

/** Phases that saw errors or dropped keep-alive: a figure earned that way is not the figure it claims. */
function errorLines(paths: BenchReport['paths']): string[] {
  return Object.entries(paths).flatMap(([via, f]) => phasesOf(f).flatMap(([name, p]) => [
    ...(p.errors > 0 ? [`  ${via} ${name}: ${p.errors} errors, first: ${p.firstError}`] : []),
    ...(p.reconnects ? [`  ${via} ${name}: ${p.reconnects} keep-alive connections closed by the far side`] : []),
  ]))
}

function classifyLines(figures: readonly ClassifyFigures[] | undefined): string[] {
  if (!figures) return []
  return ['', 'policy classification (decide, one call at a time, timer cost subtracted)',
    `${'rules'.padStart(10)}${'median ns'.padStart(12)}${'p99 ns'.padStart(12)}${'load ms'.padStart(12)}`,
    ...figures.map(f => `${String(f.rules).padStart(10)}${num(f.medianNs, 0).padStart(12)}` +
      `${num(f.p99Ns, 0).padStart(12)}${num(f.loadMs, 1).padStart(12)}`)]
}

/** The human-readable table `npm run bench` prints. */
export function formatReport(report: BenchReport): string {
  const header = `${'metric'.padEnd(34)}${COLUMNS.map(c => c.padStart(10)).join('')}  target vs squid`
  const errors = errorLines(report.paths)
  return [header, ...ROWS.map(row => formatRow(row, report.paths)),
    '', 'load generator headroom (direct ÷ proxy: ≫1, or the proxy near 100% of its core, means the proxy is the bottleneck)',
    ...headroom(report.paths),
    ...contention(report.paths),
    ...efficiency(report.paths),
    ...(errors.length ? ['', 'problems during load:', ...errors] : []),
    ...classifyLines(report.classify),
    ...formatSections(report),
    ...(report.notes.length ? ['', ...report.notes.map(n => `note: ${n}`)] : []),
  ].join('\n')
}
