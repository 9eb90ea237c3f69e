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

const MIN_TICK_MS = 5
const MAX_TICK_MS = 1_000

/**
 * The watched limits, as a doubly linked list through the limits themselves: adding or removing one
 * allocates nothing. With a Set, whose table is rebuilt as thousands of limits a second come and go,
 * the proxy promoted about 1.3 KB more per CONNECT tunnel to the old generation (`--trace-gc-nvp`).
 */
let first: Deadline | undefined
let count = 0
let timer: NodeJS.Timeout | undefined
let tickMs = Infinity

/** A one-shot limit (or an idle limit, which its owner keeps alive by setting `active`). */
export class Deadline {
  /** Set by the owner of an idle limit on every sign of life; the next tick restarts the wait from there. */
  active = false
  /** When it expires, on `performance.now()`'s clock. */
  at = Infinity
  private expire: () => void = noop
  /** Neighbours in the watched list; `watching` tells a listed limit from one that is not. */
  private prev: Deadline | undefined = undefined
  private next: Deadline | undefined = undefined
  private watching = false

  /** `idle`: the limit counts from the last tick that found `active` set, not from `start`. */
  constructor(
    readonly ms: number,
    readonly idle = false,
  ) {}

  /** Starts the wait; `expire` runs once, unless `cancel` comes first. */
  start(expire: () => void): this {
    this.expire = expire
    this.at = performance.now() + this.ms
    if (!this.watching) this.link()
    watch(this.ms)
    return this
  }

  /** Stops the wait; harmless when it already expired or never started. */
  cancel(): void {
    if (this.watching) this.unlink()
  }

  /** Run by the tick: moves an idle limit on after activity, or expires it once its time has come. */
  check(now: number): void {
    if (this.idle && this.active) {
      this.active = false
      this.at = now + this.ms
    } else if (this.at <= now) {
      this.unlink()
      this.expire()
    }
  }

  /** The next limit in the watched list, or undefined at its end (the tick walks it). */
  following(): Deadline | undefined {
    return this.next
  }

  /** Whether the limit is in the watched list. */
  get listed(): boolean {
    return this.watching
  }

  private link(): void {
    this.watching = true
    this.next = first
    if (first) first.prev = this
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the list's head is a limit: this one
    first = this
    count++
  }

  private unlink(): void {
    this.watching = false
    if (this.prev) this.prev.next = this.next
    else first = this.next
    if (this.next) this.next.prev = this.prev
    this.prev = this.next = undefined
    count--
  }
}

function noop(): void {}

/** A started one-shot limit: `expire` runs once `ms` have passed, unless cancelled first. */
export function after(ms: number, expire: () => void): Deadline {
  return new Deadline(ms).start(expire)
}

/** How many limits are being watched (tests check that finished connections leave none behind). */
export function watchedCount(): number {
  return count
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
  for (let deadline = first; deadline; ) {
    const next = deadline.following()
    deadline.check(now)
    deadline = !next || next.listed ? next : first // an expiry cancelled the next one too: start over
  }
  if (count > 0) return
  clearInterval(timer) // idle: no wake-ups, and the next limit picks its own tick
  timer = undefined
  tickMs = Infinity
}
