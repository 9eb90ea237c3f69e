import t from 'tap'
import { medianBreakdown, spread, timingsLine } from '../../bench/measure-startup.js'

t.test('the timings line is picked out of whatever else guarded-run wrote to stderr', async t => {
  const stderr = 'guarded-run: warning: something\nguarded-run timings: node 40ms, modules 25ms, total 310ms\n'
  t.equal(timingsLine(stderr), 'guarded-run timings: node 40ms, modules 25ms, total 310ms')
  t.equal(timingsLine('the agent said guarded-run timings: fake\n'), undefined, 'only a whole line counts')
  t.equal(timingsLine(''), undefined)
})

t.test('median and p90 of the runs', async t => {
  t.same(spread([5, 1, 4, 2, 3, 10, 9, 8, 7, 6]), { median: 6, p90: 9 })
})

t.test('the breakdown is each phase\'s median over the runs, in guarded-run\'s order', async t => {
  const lines = [
    'guarded-run timings: node 100ms, modules 30ms, agent 20ms, total 150ms',
    'guarded-run timings: node 140ms, modules 10ms, agent 25ms, total 175ms',
    'guarded-run timings: node 120ms, modules 20ms, doctor 4ms, agent 90ms, total 234ms',
  ]
  t.equal(medianBreakdown(lines), 'guarded-run timings, median of 3 runs: node 120ms, modules 20ms, agent 25ms, total 175ms, doctor 4ms')
  t.equal(medianBreakdown([]), undefined, 'no lines, no breakdown')
})
