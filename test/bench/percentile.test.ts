import t from 'tap'
import { percentile } from '../../bench/percentile.js'

t.test('nearest rank on a sorted copy, numeric not lexical', async t => {
  const values = [10, 9, 1, 2, 100]
  t.equal(percentile(values, 0.5), 9, 'a lexical sort would put 100 before 2')
  t.equal(percentile(values, 0), 1)
  t.equal(percentile(values, 1), 100)
  t.equal(percentile(values, 0.99), 100, 'p99 of a few samples is the largest')
  t.same(values, [10, 9, 1, 2, 100], 'the input is left alone')
  t.ok(Number.isNaN(percentile([], 0.5)), 'no samples, no figure')
})
