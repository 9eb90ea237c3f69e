import t from 'tap'
import { loadPolicy } from '../../policy/load.js'
import { decide } from '../../policy/decide.js'
import { PolicyError } from '../../policy/policy-error.js'
import { compileInWorker, type CompileTimes } from '../../proxy/policy-files/compile-in-worker.js'

const RULES = 100_000
const big = `version: 1\nallow:\n${Array.from({ length: RULES }, (_, i) => `  - host-${i}.example.com\n`).join('')}block:\n  - "*.pastebin.com"\n`

/** The longest gap between 5 ms ticks while `work` runs: how long the event loop was stalled. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now()
  let worst = 0
  const timer = setInterval(() => {
    const now = performance.now()
    worst = Math.max(worst, now - last)
    last = now
  }, 5)
  await work()
  await new Promise((resolve) => setTimeout(resolve, 20)) // let a tick land after the last synchronous step
  clearInterval(timer)
  return worst
}

t.test('a 100,000-rule policy compiles off the main thread and decides the same', async (t) => {
  const sources = [{ file: 'big.yaml', text: big, layer: 'cli' as const }]
  let times: CompileTimes | undefined
  let policy: ReturnType<typeof loadPolicy> | undefined
  const stall = await longestStall(async () => (policy = await compileInWorker(sources, (x) => (times = x))))
  const mainStart = performance.now()
  const inMain = loadPolicy(sources)
  const mainMs = performance.now() - mainStart
  t.comment(`main-thread load ${mainMs.toFixed(0)} ms; worker ${times?.workerMs.toFixed(0)} ms + revive ${times?.reviveMs.toFixed(0)} ms; longest event-loop stall during the worker compile ${stall.toFixed(0)} ms`)
  t.ok(policy && Object.isFrozen(policy) && Object.isFrozen(policy.rules[5]), 'the revived policy is frozen all the way down')
  t.equal(policy?.rules.length, RULES + 1)
  const dest = { host: 'host-99999.example.com', port: 443, kind: 'name' as const }
  t.same(decide(policy!, dest), decide(inMain, dest), 'the revived index decides like the main-thread one')
  t.equal(decide(policy!, { host: 'a.pastebin.com', port: 443, kind: 'name' }).classification, 'blocked')
  t.ok(stall < mainMs / 2, 'the event loop stalls far less than a main-thread load takes (only chunked parsing and the final freeze and index run here)')
})

t.test('a broken policy comes back as the same PolicyError the loader throws', async (t) => {
  const err = await compileInWorker([{ file: 'bad.yaml', text: 'version: 2\n' }]).catch((e: unknown) => e)
  t.ok(err instanceof PolicyError)
  t.match((err as PolicyError).problems, [{ file: 'bad.yaml', line: 1, col: 10, message: "'version' must be 1" }])
})
