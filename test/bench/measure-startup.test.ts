import t from 'tap'
import { spread, timingsLine } from '../../bench/measure-startup.js'

t.test('the timings line is picked out of whatever else guarded-run wrote to stderr', async t => {
  const stderr = 'guarded-run: warning: something\nguarded-run timings: node 40ms, modules 25ms, total 310ms\n'
  t.equal(timingsLine(stderr), 'guarded-run timings: node 40ms, modules 25ms, total 310ms')
  t.equal(timingsLine('the agent said guarded-run timings: fake\n'), undefined, 'only a whole line counts')
  t.equal(timingsLine(''), undefined)
})

t.test('median and p90 of the runs', async t => {
  t.same(spread([5, 1, 4, 2, 3, 10, 9, 8, 7, 6]), { median: 6, p90: 9 })
})
