import t from 'tap'
import { medianOfRounds } from '../../bench/measure-load.js'
import type { LoadFigures, PhaseResult } from '../../bench/types.js'

const phase = (value: number, proxyCpu = 1): PhaseResult => ({ value, errors: 0, firstError: '', coreBusy: 1, proxyCpu })
const round = (tunnel: number, connect: number, p99us: number, http: number): LoadFigures => ({
  tunnelMBps: phase(tunnel),
  connectPerS: { ...phase(connect), p50us: p99us / 2, p99us },
  httpPerS: phase(http),
  idleBytesPerTunnel: 16_000,
})

t.test('each figure is its median over the rounds, CONNECT latencies included', async (t) => {
  const median = medianOfRounds([round(500, 1000, 90, 7000), round(900, 3000, 30, 5000), round(700, 2000, 60, 9000)])
  t.equal(median.tunnelMBps.value, 700)
  t.equal(median.connectPerS.value, 2000)
  t.equal(median.connectPerS.p99us, 60, 'the median of the rounds\' p99s')
  t.equal(median.httpPerS.value, 7000)
  t.equal(median.idleBytesPerTunnel, 16_000)
})

t.test('no rounds is an error, not a figure', async (t) => {
  t.throws(() => medianOfRounds([]), /no rounds/)
})
