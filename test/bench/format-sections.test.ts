import t from 'tap'
import { formatSections, judge } from '../../bench/format-sections.js'
import type { InspectionFigures } from '../../bench/measure-inspection.js'
import type { PhaseResult, StartupFigures } from '../../bench/types.js'

const lineOf = (lines: string[], label: string) => lines.find(l => l.trimStart().startsWith(label)) ?? ''
const phase = (value: number, proxyCpu: number): PhaseResult => ({ value, errors: 0, firstError: '', coreBusy: proxyCpu, proxyCpu })

t.test('a ceiling passes only strictly under it; a floor passes at it', async t => {
  t.match(judge(4.99, { bound: 'max', limit: 5, goal: '<5 ms' }), /^<5 ms\s+PASS$/)
  t.match(judge(5, { bound: 'max', limit: 5, goal: '<5 ms' }), /BELOW$/, '"under 5 ms" excludes 5 ms')
  t.match(judge(0.9, { bound: 'min', limit: 0.9, goal: 'overhead <10%' }), /PASS$/)
  t.equal(judge(NaN, { bound: 'max', limit: 5, goal: '<5 ms' }), '', 'no figure, no verdict')
})

t.test('approvals: p50 and p99 judged against 5 ms, memory per parked request in KiB', async t => {
  const lines = formatSections({ approvals: { warmup: 100, settled: 20, p50Ms: 1.5, p99Ms: 7, parked: 1000, bytesPerParked: 4096 } })
  t.equal(lines[0], '', 'a section starts with a blank line')
  t.match(lines[1], /^approvals \(issue 3\): 20 plain-HTTP requests .* after 100 unrecorded$/, 'the heading says how many were recorded, and after how many')
  t.match(lineOf(lines, 'decision sent → first response byte p50'), /1\.50\s+<5 ms\s+PASS$/)
  t.match(lineOf(lines, 'decision sent → first response byte p99'), /7\.00\s+<5 ms\s+BELOW$/)
  t.match(lineOf(lines, 'memory per parked CONNECT (1000 parked)'), /4\.0$/)
})

t.test('sinks: the on/off ratio of the rate and of the rate per proxy CPU-second, each against 10% overhead', async t => {
  const lines = formatSections({ sinks: { off: phase(10_000, 1), on: phase(9_500, 0.5), sampled: phase(9_800, 1.05), sampledShare: 0.1, sampledOtlpBytes: 120_000, auditBytes: 2_500_000, otlpPosts: 3, otlpBytes: 1_000_000 } })
  t.match(lineOf(lines, 'plain HTTP req/s'), /10000\s+9500\s+0\.95\s+overhead <10%\s+PASS$/)
  t.match(lineOf(lines, 'per second of proxy CPU'), /10000\s+19000\s+1\.90\s+overhead <10%\s+PASS$/, 'half the CPU for 95% of the rate')
  t.match(lineOf(lines, 'while on'), /audit log 2\.5 MB; OTLP receiver 3 exports, 1\.0 MB/, 'the sinks did work, so the overhead is theirs')
  t.match(lineOf(lines, 'on, with spans sampled'), /traceidratio, ARG 0\.1\): 9800 req\/s, 0\.98 of off; CPU per request 107\.1 µs, the sinks add 7\.1; OTLP receiver 0\.1 MB$/, 'what sampling spans leaves of the cost')
  const failing = formatSections({ sinks: { off: phase(10_000, 1), on: { ...phase(8_000, 1), errors: 2, firstError: 'reset' }, sampled: { ...phase(9_000, 1), errors: 1, firstError: 'timeout' }, sampledShare: 0.1, sampledOtlpBytes: 0, auditBytes: 0, otlpPosts: 0, otlpBytes: 0 } })
  t.match(lineOf(failing, 'plain HTTP req/s'), /0\.80\s+overhead <10%\s+BELOW$/)
  t.match(lineOf(failing, 'sinks on:'), /2 errors, first: reset/)
  t.match(lineOf(failing, 'sinks sampled:'), /1 errors, first: timeout/)
  t.match(lineOf(failing, 'proxy CPU per request, µs'), /: the sinks add 25\.0\s+100\.0\s+125\.0\s+1\.25$/, 'CPU per request off and on, and what the sinks add')
})

t.test('start-up: what guarded-run adds is its median less the median of true, judged against 300 ms', async t => {
  const s: StartupFigures = {
    runs: 10, true: { median: 2, p90: 3 }, node: { median: 100, p90: 120 }, guarded: { median: 290, p90: 400 },
    breakdown: 'guarded-run timings: node 40ms, total 290ms', workload: { files: 2000, directMs: 200, guardedMs: 600 },
  }
  const lines = formatSections({ startup: s })
  t.match(lineOf(lines, 'guarded-run --policy P -- true'), /290\.0\s+400\.0$/)
  t.match(lineOf(lines, 'added by guarded-run'), /288\.0\s+<300 ms\s+PASS$/)
  t.match(lineOf(lines, "beyond Node's own boot"), /190\.0$/)
  t.ok(lines.includes('  guarded-run timings: node 40ms, total 290ms'), 'the breakdown is printed as guarded-run wrote it')
  t.match(lineOf(lines, '2000 small files'), /directly 200 ms, under guarded-run 600 ms, 3\.00×; less guarded-run's start-up, 310 ms/)
  t.match(formatSections({ startup: { ...s, guarded: { median: 310, p90: 400 } } }).join('\n'), /308\.0\s+<300 ms\s+BELOW/)
})

t.test('inspection: mint under 50 ms and a cached leaf under 1 ms, rates and latencies side by side', async t => {
  const i: InspectionFigures = {
    mintMedianMs: 60, cachedMedianMs: 0.02, firstContactHandshakeMs: 70, cachedHandshakeMs: 3, inspectedPerS: 500,
    opaquePerS: 2000, inspectedP50Ms: 10, inspectedP99Ms: 30, opaqueP50Ms: 2.5, opaqueP99Ms: 10,
  }
  const lines = formatSections({ inspection: i })
  t.match(lineOf(lines, 'first-contact certificate'), /60\.00\s+<50 ms\s+BELOW$/)
  t.match(lineOf(lines, 'cached certificate'), /0\.020\s+<1 ms\s+PASS$/)
  t.match(lineOf(lines, 'HTTPS req/s'), /500\s+2000\s+0\.25$/)
  t.match(lineOf(lines, 'p50 latency'), /10\.00\s+2\.50\s+4\.00$/)
})

t.test('a section not measured prints nothing', async t => {
  t.same(formatSections({}), [])
})
