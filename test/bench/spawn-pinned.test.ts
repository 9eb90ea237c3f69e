import t from 'tap'
import { CORES, spawnPinned, stopChild, waitForLines } from '../../bench/spawn-pinned.js'

t.test('waits for every pattern, in any order, even when the lines arrive in one chunk', async t => {
  const child = spawnPinned(CORES.load, 'sh', ['-c', 'printf "noise\\nlistening 7\\nadmin 8\\n"; sleep 10'])
  t.teardown(() => stopChild(child))
  const [admin, listening] = await waitForLines(child, [/^admin (\d+)$/, /^listening (\d+)$/], 5000)
  t.equal(admin?.[1], '8')
  t.equal(listening?.[1], '7')
})

t.test('rejects when the child exits before printing every pattern, naming the missing one', async t => {
  const child = spawnPinned(CORES.load, 'sh', ['-c', 'echo listening 7; echo oops >&2'])
  t.teardown(() => stopChild(child))
  await t.rejects(waitForLines(child, [/^listening/, /^admin/], 5000), /exited \(0\) before printing \/\^admin\/\noops/)
})
