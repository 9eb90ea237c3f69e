/**
 * A listener's open client sockets: counted for the connection limit, destroyed when a drain runs out of time.
 * A linked list (linked-list.ts), not a Set: with a Set the garbage collector copied about 2 KB more per
 * CONNECT tunnel to the old generation and paused about 7 ms longer per 1,000 tunnels (issue 2).
 */
import type { Socket } from 'node:net'
import { LinkedList } from './linked-list.js'

/** An open socket's place in the list; its owner adds it, and removes it at the socket's 'close'. */
export interface Entry {
  readonly socket: Socket
  prev: Entry | undefined
  next: Entry | undefined
}

/** The open sockets of one listener. */
export class OpenSockets {
  readonly #list = new LinkedList<Entry>()

  /** How many are open. */
  get size(): number {
    return this.#list.size
  }

  add(entry: Entry): void {
    this.#list.add(entry)
  }

  remove(entry: Entry): void {
    this.#list.remove(entry)
  }

  /** Destroys every open socket; each leaves the list at its 'close'. */
  destroyAll(): void {
    for (let entry = this.#list.first; entry; ) {
      const next = entry.next // read first, should a 'close' ever come at once and unlink this entry
      entry.socket.destroy()
      entry = next
    }
  }
}
