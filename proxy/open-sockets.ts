/**
 * A listener's open client sockets: counted for the connection limit, destroyed when a drain runs out of time.
 *
 * A linked list of small entries, not a Set. Every connection enters and leaves this collection, and with
 * a Set (its table rebuilt as thousands of sockets a second came and went) the garbage collector copied
 * about 2 KB more per CONNECT tunnel to the old generation, and paused about 7 ms longer per 1,000
 * tunnels (issue 2; `node --trace-gc-nvp` under the bench's CONNECT load).
 */
import type { Socket } from 'node:net'

interface Entry {
  readonly socket: Socket
  prev: Entry | undefined
  next: Entry | undefined
}

/** The open sockets of one listener. */
export class OpenSockets {
  private first: Entry | undefined = undefined
  private count = 0

  /** How many are open. */
  get size(): number {
    return this.count
  }

  /** Adds `socket` until its 'close'. */
  add(socket: Socket): void {
    const entry: Entry = { socket, prev: undefined, next: this.first }
    if (this.first) this.first.prev = entry
    this.first = entry
    this.count++
    socket.once('close', () => this.remove(entry))
  }

  /** Destroys every open socket (each leaves the list at its 'close'). */
  destroyAll(): void {
    for (let entry = this.first; entry; entry = entry.next) entry.socket.destroy()
  }

  private remove(entry: Entry): void {
    if (entry.prev) entry.prev.next = entry.next
    else this.first = entry.next
    if (entry.next) entry.next.prev = entry.prev
    entry.prev = entry.next = undefined
    this.count--
  }
}
