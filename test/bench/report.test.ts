import t from 'tap'
import { formatReport } from '../../bench/report.js'
import type { LoadFigures, PhaseResult } from '../../bench/types.js'

const phase = (value: number, proxyCpu?: number): PhaseResult =>
  ({ value, errors: 0, firstError: '', coreBusy: proxyCpu ?? 0, ...(proxyCpu === undefined ? {} : { proxyCpu }) })

function figures(tunnel: number, connect: number, http: number, idle?: number, cpu?: number): LoadFigures {
  return {
    tunnelMBps: phase(tunnel, cpu),
    connectPerS: { ...phase(connect, cpu), p50us: 100, p99us: 900 },
    httpPerS: phase(http, cpu),
    ...(idle === undefined ? {} : { idleBytesPerTunnel: idle }),
  }
}

const lineOf = (out: string, label: string) => out.split('\n').find(l => l.startsWith(label)) ?? ''

t.test('each target is judged against Squid, PASS at or above the bar and BELOW under it', async t => {
  const out = formatReport({
    paths: { direct: figures(1000, 10000, 100000), guarded: figures(220, 1000, 5000, 20480, 1), squid: figures(400, 1500, 7000, 10240, 1) },
    notes: [],
  })
  t.match(lineOf(out, 'tunnel throughput'), /0\.55 {2}≥0\.55× squid\s+PASS$/, '220/400 is exactly the bar')
  t.match(lineOf(out, 'CONNECT tunnels/s'), /0\.67 {2}≥0\.7× squid\s+BELOW$/)
  t.match(lineOf(out, 'plain HTTP'), /0\.71 {2}≥0\.8× squid\s+BELOW$/)
  t.match(lineOf(out, 'memory per idle tunnel'), /20\.0\s+10\.0.*2\.00 {2}≤1× squid\s+BELOW$/, 'memory is a ceiling')
  t.match(out, /direct ÷ guarded: tunnel 4\.5×/, 'the load generator headroom is printed')
  t.notMatch(out, /WARNING/, 'no other load on the proxy core, no warning')
  t.match(out, /plain HTTP requests\s+5000\s+7000\s+0\.71/, 'rates per proxy CPU-second are printed too')
})

t.test('without Squid there are no ratios or verdicts, and the note says why', async t => {
  const out = formatReport({ paths: { direct: figures(1000, 10000, 100000), guarded: figures(220, 1000, 5000, 20480, 1) }, notes: ['squid is not installed'] })
  t.notMatch(out, /PASS|BELOW/)
  t.match(out, /note: squid is not installed/)
})

t.test('a proxy core shared with other processes is called out', async t => {
  const busy = { ...figures(220, 1000, 5000, 20480, 0.3), tunnelMBps: { ...phase(220, 0.3), coreBusy: 1 } }
  const out = formatReport({ paths: { direct: figures(1000, 10000, 100000), guarded: busy }, notes: [] })
  t.match(out, /WARNING: other processes used up to 70% of core 0/)
  t.match(out, /tunnel MB\s+733\.3/, 'a rate earned with 30% of a core counts as 1/0.3 of it per CPU-second')
})

t.test('the sections with absolute targets follow the comparison, and the notes come last', async t => {
  const out = formatReport({
    paths: { direct: figures(1000, 10000, 100000) },
    approvals: { warmup: 100, settled: 20, p50Ms: 1, p99Ms: 2, parked: 1000, bytesPerParked: 2048 },
    notes: ['TLS inspection: not measured: boom'],
  })
  t.match(out, /approvals \(issue 3\)[^]*PASS[^]*\n\nnote: TLS inspection: not measured: boom$/)
  t.notMatch(out, /event sinks|guarded-run start-up|TLS inspection \(issue 6\)/, 'a section not measured prints nothing')
})
