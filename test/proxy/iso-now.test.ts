/** Record timestamps: the cached formatter must write exactly what Date#toISOString writes, at every boundary. */
import t from 'tap'
import { isoNow } from '../../proxy/record.js'

t.test('isoNow agrees with toISOString across millisecond, second and day boundaries', async (t) => {
  const instants = [0, 1, 9, 10, 99, 100, 999, 1_000, 1_001, 59_999, 60_000, 86_399_999, 86_400_000, -1, -1_000, -1_001,
    1_700_000_000_000, 1_700_000_000_009, 1_700_000_000_999, 1_700_000_001_000, Date.UTC(2028, 1, 29, 23, 59, 59, 999)]
  // Twice in a row, and in an order that revisits a second: the per-second cache must never leak into another second.
  for (const ms of [...instants, ...instants.slice().reverse()]) t.equal(isoNow(ms), new Date(ms).toISOString(), `at ${ms}`)
})

t.test('without an argument it is the current time', async (t) => {
  const before = Date.now()
  const stamped = Date.parse(isoNow())
  t.ok(stamped >= before && stamped <= Date.now(), 'between the clock readings taken around it')
})
