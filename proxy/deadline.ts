/**
 * Time limits for every connection on one coarse timer.
 *
 * A Node timer is an object in a timer list, and a socket's timer moves in that list (with a call into
 * C++ for the clock) on every read and write. A tunnel had five of them over its two sockets, and they
 * were about an eighth of its CPU (issue 2's CONNECT rate). Here a limit is a deadline on a plain
 * object, checked on a shared tick, and a busy connection only sets a flag.
 *
 * A limit never expires early, and expires at most two ticks late (one for a one-shot limit). The tick
 * is a twentieth of the shortest limit being watched, between 5 ms and 1 s: 500 ms for the default
 * 10-second header and connect timeouts.
 */

import { LinkedList } from './linked-list.js'

const MIN_TICK_MS = 5
const MAX_TICK_MS = 1_000

/**
 * The watched limits, listed through the limits themselves (linked-list.ts): with a Set, the proxy
 * promoted about 1.3 KB more per CONNECT tunnel to the old generation (`--trace-gc-nvp`).
 */
const watched = new LinkedList<Deadline>()
let timer: NodeJS.Timeout | undefined
let tickMs = Infinity

/** A one-shot limit (or an idle limit, which its owner keeps alive by setting `active`). */
export class Deadline {
  /** Set by the owner of an idle limit on every sign of life; the next tick restarts the wait from there. */
  active = false
  /** When it expires, on `performance.now()`'s clock. */
  at = Infinity
  /** Neighbours in the watched list, kept by the list. */
  prev: Deadline | undefined = undefined
  next: Deadline | undefined = undefined
  private expire: (target: unknown) => void = noop
  private target: unknown = undefined

  /** `idle`: the limit counts from the last tick that found `active` set, not from `start`. */
  constructor(
    readonly ms: number,
    readonly idle = false,
  ) {}

  /**
   * Starts the wait; `expire(target)` runs once, unless `cancel` comes first. A function declared once and
   * the object it acts on, rather than a closure per limit: connections start several limits each.
   */
  start(expire: () => void): this
  start<T>(expire: (target: T) => void, target: T): this
  start<T>(expire: (target: T) => void, target?: T): this {
    this.expire = expire as (target: unknown) => void // called with `target` only, so its type holds
    this.target = target
    this.at = performance.now() + this.ms
    watched.add(this)
    watch(this.ms)
    return this
  }

  /** Stops the wait; harmless when it already expired or never started. */
  cancel(): void {
    watched.remove(this)
    this.target = undefined
  }

  /** Run by the tick: moves an idle limit on after activity, or expires it once its time has come. */
  check(now: number): void {
    if (this.idle && this.active) {
      this.active = false
      this.at = now + this.ms
    } else if (this.at <= now) {
      watched.remove(this)
      const { expire, target } = this
      this.target = undefined // a finished limit, like a cancelled one, keeps nothing alive
      expire(target)
    }
  }
}

function noop(): void {}

/** A started one-shot limit: `expire` (with `target`) runs once `ms` have passed, unless cancelled first. */
export function after(ms: number, expire: () => void): Deadline
export function after<T>(ms: number, expire: (target: T) => void, target: T): Deadline
export function after<T>(ms: number, expire: (target: T) => void, target?: T): Deadline {
  return new Deadline(ms).start(expire, target as T)
}

/** How many limits are being watched (tests check that finished connections leave none behind). */
export function watchedCount(): number {
  return watched.size
}

function watch(ms: number): void {
  const wanted = Math.min(MAX_TICK_MS, Math.max(MIN_TICK_MS, ms / 20))
  if (timer && wanted >= tickMs) return
  clearInterval(timer)
  tickMs = wanted
  timer = setInterval(tick, tickMs).unref() // like a socket's own timer, a limit keeps no process alive
}

function tick(): void {
  const now = performance.now()
  for (let deadline = watched.first; deadline; ) {
    const next = deadline.next
    deadline.check(now)
    deadline = !next || watched.has(next) ? next : watched.first // an expiry cancelled the next one too: start over
  }
  if (watched.size > 0) return
  clearInterval(timer) // idle: no wake-ups, and the next limit picks its own tick
  timer = undefined
  tickMs = Infinity
}
