import t from 'tap'
import { medianPhase } from '../../bench/median-phase.js'
import type { PhaseResult } from '../../bench/types.js'

const phase = (value: number, more: Partial<PhaseResult> = {}): PhaseResult => ({ value, errors: 0, firstError: '', coreBusy: 0.9, proxyCpu: value / 10_000, reconnects: 0, ...more })

t.test('each side is its median round, so one disturbed round does not decide the ratio', async t => {
  const m = medianPhase([phase(5000), phase(1200, { coreBusy: 1 }), phase(5200)])
  t.equal(m.value, 5000, 'the slow round (another process took the core) is outvoted')
  t.equal(m.proxyCpu, 0.5)
  t.equal(m.coreBusy, 0.9)
  t.equal(medianPhase([phase(4000), phase(5000)]).value, 4500, 'an even count takes the mean of the middle two')
})

t.test('errors are summed over the rounds and the first one kept', async t => {
  const m = medianPhase([phase(5000), phase(4000, { errors: 2, firstError: 'connect: refused' }), phase(4500, { errors: 1, firstError: 'later' })])
  t.equal(m.errors, 3)
  t.equal(m.firstError, 'connect: refused')
  t.notOk('proxyCpu' in medianPhase([{ value: 1, errors: 0, firstError: '', coreBusy: 0 }]), 'no CPU figure when no round had one')
})
