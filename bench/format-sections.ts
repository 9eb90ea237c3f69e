/** The report's sections with absolute targets: approvals, sinks, guarded-run start-up, TLS inspection. */
import type { InspectionFigures } from './measure-inspection.js'
import { PHASE } from './measure-load.js'
import type { ApprovalFigures, PhaseResult, SinkFigures, StartupFigures } from './types.js'

/** The sections one run measured; a section absent was skipped (a note says why). */
export interface Sections {
  readonly approvals?: ApprovalFigures
  readonly sinks?: SinkFigures
  readonly startup?: StartupFigures
  readonly inspection?: InspectionFigures
}

/** A goal from an issue: stay under (`max`) or reach (`min`) `limit`, printed as `goal`. */
interface Goal { readonly bound: 'max' | 'min'; readonly limit: number; readonly goal: string }

const LABEL = 52
const CELL = 10

function num(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits)
}

/** PASS/BELOW for a figure against its goal; nothing when there is no figure. */
export function judge(value: number | undefined, goal: Goal): string {
  if (value === undefined || !Number.isFinite(value)) return ''
  const met = goal.bound === 'max' ? value < goal.limit : value >= goal.limit
  return `${goal.goal.padEnd(15)} ${met ? 'PASS' : 'BELOW'}`
}

/** A labelled row of right-aligned cells, then the verdict if there is a goal. */
function row(label: string, cells: readonly string[], verdict = ''): string {
  return `  ${label.padEnd(LABEL)}${cells.map(c => c.padStart(CELL)).join('')}${verdict ? `  ${verdict}` : ''}`.trimEnd()
}

const under = (limit: number, unit: string): Goal => ({ bound: 'max', limit, goal: `<${limit} ${unit}` })

function approvalLines(a: ApprovalFigures): string[] {
  return ['', `approvals (issue 3): ${a.settled} plain-HTTP requests parked one at a time, each allowed once via POST /v1/approvals/{id}, after ${a.warmup} unrecorded`,
    row('decision sent → first response byte p50, ms', [num(a.p50Ms, 2)], judge(a.p50Ms, under(5, 'ms'))),
    row('decision sent → first response byte p99, ms', [num(a.p99Ms, 2)], judge(a.p99Ms, under(5, 'ms'))),
    row(`memory per parked CONNECT (${a.parked} parked), KiB`, [num(a.bytesPerParked / 1024, 1)])]
}

/** A phase's rate per second of proxy CPU, when the proxy's CPU was measured. */
export function perCpu(p: PhaseResult | undefined): number | undefined {
  return p?.proxyCpu ? p.value / p.proxyCpu : undefined
}

function sinkLines(s: SinkFigures): string[] {
  const keep = { bound: 'min', limit: 0.9, goal: 'overhead <10%' } as const
  const pair = (off: number | undefined, on: number | undefined): [string[], number | undefined] => {
    const ratio = off && on !== undefined ? on / off : undefined
    return [[num(off, 0), num(on, 0), num(ratio, 2)], ratio]
  }
  const [offPerCpu, onPerCpu] = [perCpu(s.off), perCpu(s.on)]
  const [rate, rateRatio] = pair(s.off.value, s.on.value)
  const [cpu, cpuRatio] = pair(offPerCpu, onPerCpu)
  const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)
  // The cost in CPU time per request carries over to other traffic, where the ratio depends on how
  // much else the proxy does per request (a large download makes the same records a smaller share).
  const [offUs, onUs] = [offPerCpu, onPerCpu].map((r) => (r ? 1e6 / r : undefined))
  const added = offUs !== undefined && onUs !== undefined ? `: the sinks add ${num(onUs - offUs, 1)}` : ''
  const sampledPerCpu = perCpu(s.sampled)
  const sampledUs = sampledPerCpu ? 1e6 / sampledPerCpu : undefined
  return ['', `event sinks (issue 4): plain HTTP, ${PHASE.clients} keep-alive clients; off = metrics only, on = audit log + OTLP spans + metrics`,
    row('', ['off', 'on', 'on/off']),
    row('plain HTTP req/s', rate, judge(rateRatio, keep)),
    row('  per second of proxy CPU', cpu, judge(cpuRatio, keep)),
    row(`  proxy CPU per request, µs${added}`, [num(offUs, 1), num(onUs, 1), num(onUs && offUs ? onUs / offUs : undefined, 2)]),
    `  while on, the sinks took: audit log ${mb(s.auditBytes)} MB; OTLP receiver ${s.otlpPosts} exports, ${mb(s.otlpBytes)} MB`,
    `  on, with spans sampled (OTEL_TRACES_SAMPLER=traceidratio, ARG ${s.sampledShare}): ${num(s.sampled.value, 0)} req/s, ${num(pair(s.off.value, s.sampled.value)[1], 2)} of off; `
      + `CPU per request ${num(sampledUs, 1)} µs, the sinks add ${num(sampledUs !== undefined && offUs !== undefined ? sampledUs - offUs : undefined, 1)}; OTLP receiver ${mb(s.sampledOtlpBytes)} MB`,
    ...phaseErrors('off', s.off), ...phaseErrors('on', s.on), ...phaseErrors('sampled', s.sampled)]
}

/** A rate earned with errors is not the rate it claims: say so under it. */
function phaseErrors(name: string, p: PhaseResult): string[] {
  return p.errors > 0 ? [`  sinks ${name}: ${p.errors} errors, first: ${p.firstError}`] : []
}

function startupLines(s: StartupFigures): string[] {
  const spreadRow = (label: string, v: StartupFigures['true']): string => row(label, [num(v.median, 1), num(v.p90, 1)])
  const w = s.workload
  return ['', `guarded-run start-up (issue 5): ${s.runs} runs of each, alternating; ms`,
    row('', ['median', 'p90']),
    spreadRow('true', s.true),
    spreadRow('node -e 0', s.node),
    spreadRow('guarded-run --policy P -- true', s.guarded),
    row('added by guarded-run (median − true)', [num(s.guarded.median - s.true.median, 1), ''], judge(s.guarded.median - s.true.median, under(300, 'ms'))),
    row('  beyond Node\'s own boot (median − node -e 0)', [num(s.guarded.median - s.node.median, 1)]),
    `  ${s.breakdown ?? 'guarded-run printed no timings line (GUARDED_RUN_TIMINGS=1)'}`,
    `  ${w.files} small files written in the workspace (median): directly ${num(w.directMs, 0)} ms, under guarded-run ${num(w.guardedMs, 0)} ms,` +
      ` ${num(w.guardedMs / w.directMs, 2)}×; less guarded-run's start-up, ${num(w.guardedMs - s.guarded.median, 0)} ms`]
}

function inspectionLines(i: InspectionFigures): string[] {
  return ['', 'TLS inspection (issue 6): in-process, client, proxy and origin on this script\'s event loop; compare rows with each other',
    row('first-contact certificate (mint), ms', [num(i.mintMedianMs, 2)], judge(i.mintMedianMs, under(50, 'ms'))),
    row('cached certificate, ms', [num(i.cachedMedianMs, 3)], judge(i.cachedMedianMs, under(1, 'ms'))),
    row('CONNECT + TLS handshake, first contact / cached, ms', [num(i.firstContactHandshakeMs, 2), num(i.cachedHandshakeMs, 2)]),
    row('', ['inspected', 'opaque', 'i/opaque']),
    row('HTTPS req/s over kept-alive tunnels', [num(i.inspectedPerS, 0), num(i.opaquePerS, 0), num(i.inspectedPerS / i.opaquePerS, 2)]),
    row('  p50 latency, ms', [num(i.inspectedP50Ms, 2), num(i.opaqueP50Ms, 2), num(i.inspectedP50Ms / i.opaqueP50Ms, 2)]),
    row('  p99 latency, ms', [num(i.inspectedP99Ms, 2), num(i.opaqueP99Ms, 2), num(i.inspectedP99Ms / i.opaqueP99Ms, 2)])]
}

/** The lines of every section measured, each starting with a blank line. */
export function formatSections(s: Sections): string[] {
  return [...(s.approvals ? approvalLines(s.approvals) : []), ...(s.sinks ? sinkLines(s.sinks) : []),
    ...(s.startup ? startupLines(s.startup) : []), ...(s.inspection ? inspectionLines(s.inspection) : [])]
}
