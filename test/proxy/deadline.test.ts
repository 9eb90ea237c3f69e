/**
 * The shared coarse timer behind every connection's time limits: never early, at most a tick or two late,
 * kept alive by activity when it is an idle limit, and leaving nothing watched once a limit is done.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Deadline, after, watchedCount } from '../../proxy/deadline.js'

// The shared tick is unref'd, as a socket's timer is (the proxy's sockets keep it alive): this keeps the test alive.
const keepAlive = setInterval(() => {}, 1_000)
t.teardown(() => clearInterval(keepAlive))

/** Resolves with the milliseconds from now until `limit`'s expiry runs (started here). */
function timeExpiry(start: (expire: () => void) => void): Promise<number> {
  const started = performance.now()
  return new Promise((resolve) => start(() => resolve(performance.now() - started)))
}

t.test('a one-shot limit expires once, never before its time, within a tick after it', async (t) => {
  let runs = 0
  const took = await timeExpiry((expire) => void after(200, () => (runs++, expire())))
  t.ok(took >= 200, `not early (${took.toFixed(1)} ms for a 200 ms limit)`)
  t.ok(took < 200 + 10 + 100, `a 10 ms tick late at most, plus scheduling slack (${took.toFixed(1)} ms)`)
  await sleep(60)
  t.equal(runs, 1, 'it ran once')
  t.equal(watchedCount(), 0, 'an expired limit is no longer watched, and the tick stops')
})

t.test('a cancelled limit never expires and is no longer watched', async (t) => {
  let fired = false
  const limit = after(50, () => (fired = true))
  t.equal(watchedCount(), 1)
  limit.cancel()
  t.equal(watchedCount(), 0)
  await sleep(120)
  t.notOk(fired, 'cancel came first')
  limit.cancel() // twice is harmless
})

t.test('an idle limit holds while its owner marks it active, and expires a full limit after the last activity', async (t) => {
  const limit = new Deadline(100, true)
  let expiredAt = 0
  limit.start(() => (expiredAt = performance.now()))
  const busyUntil = performance.now() + 350
  let lastActive = 0
  while (performance.now() < busyUntil) {
    limit.active = true
    lastActive = performance.now()
    await sleep(10)
  }
  t.equal(expiredAt, 0, 'three and a half limits of activity, and it has not expired')
  await sleep(300)
  t.ok(expiredAt > 0, 'it expired once activity stopped')
  t.ok(expiredAt - lastActive >= 100, `not before a full limit of silence (${(expiredAt - lastActive).toFixed(1)} ms)`)
  t.ok(expiredAt - lastActive < 100 + 2 * 5 + 100, `two ticks late at most, plus slack (${(expiredAt - lastActive).toFixed(1)} ms)`)
})

t.test('a one-shot limit ignores activity', async (t) => {
  const limit = new Deadline(60)
  const keepBusy = setInterval(() => (limit.active = true), 5)
  const took = await timeExpiry((expire) => void limit.start(expire))
  clearInterval(keepBusy)
  t.ok(took >= 60 && took < 60 + 100, `it expired on time (${took.toFixed(1)} ms)`)
})

t.test('a short limit gets a fine tick even while a long one set a coarse tick', async (t) => {
  const long = after(60_000, () => t.fail('the long limit must not expire'))
  const took = await timeExpiry((expire) => void after(50, expire))
  t.ok(took >= 50 && took < 50 + 100, `the 50 ms limit was not held to the 1 s tick of the 60 s one (${took.toFixed(1)} ms)`)
  long.cancel()
  t.equal(watchedCount(), 0)
})

t.test('an expiry that cancels other limits leaves the rest watched, and they expire in the same tick', async (t) => {
  const fired = new Map<string, number>()
  const mark = (name: string) => (): void => void fired.set(name, performance.now())
  // Started last, `first` heads the watched list, so `second` is the one the tick visits after it.
  const third = after(400, mark('third'))
  const second = after(400, mark('second'))
  const first = after(400, () => (mark('first')(), second.cancel()))
  first.start(() => (mark('first')(), second.cancel())) // starting a watched limit again does not list it twice
  t.equal(watchedCount(), 3)
  await sleep(600)
  t.same([...fired.keys()].sort(), ['first', 'third'], 'the cancelled one never ran; the one after it did')
  const gap = (fired.get('third') ?? Infinity) - (fired.get('first') ?? 0)
  t.ok(Math.abs(gap) < 10, `in the same tick as the expiry that cancelled its neighbour, not a 20 ms tick later (${gap.toFixed(2)} ms apart)`)
  t.equal(watchedCount(), 0)
  third.cancel()
})

t.test('a limit started with a target hands it to its expiry, and holds it no longer than it is watched', async (t) => {
  const owner = { name: 'connection', expired: 0 }
  const expire = (target: typeof owner): void => void target.expired++
  const fired = after(30, expire, owner)
  const cancelled = after(30, expire, owner)
  cancelled.cancel()
  await sleep(150)
  t.equal(owner.expired, 1, 'the expiry ran once, with the object it was started for; the cancelled one never ran')
  // What the limit still refers to, read the way a heap snapshot would see it.
  const held = (limit: object): unknown => Object.values(limit).find((value) => value === owner)
  t.equal(held(fired), undefined, 'an expired limit keeps no reference to its target')
  t.equal(held(cancelled), undefined, 'nor does a cancelled one')
  const watching = after(60_000, expire, owner)
  t.equal(held(watching), owner, 'a watched limit does, until it expires or is cancelled')
  watching.cancel()
  new Deadline(1).cancel() // cancelling a limit that never started is harmless
})
