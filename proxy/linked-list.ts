/**
 * A doubly linked list through its own nodes, for collections that every connection enters and leaves.
 *
 * A Set or Map churned thousands of times a second rebuilds its table, and those tables outlived young
 * collections: under the bench's CONNECT load the garbage collector copied several KB per tunnel to the
 * old generation (issue 2; `node --trace-gc-nvp`). Here adding or removing a node only moves pointers.
 */

/** What a node carries: its neighbours, owned by the list. */
export interface Linked<T> {
  prev: T | undefined
  next: T | undefined
}

/** A list of nodes that each sit in at most this one list. */
export class LinkedList<T extends Linked<T>> {
  #first: T | undefined = undefined
  #size = 0

  /** How many nodes are in the list. */
  get size(): number {
    return this.#size
  }

  /** The most recently added node, or undefined when the list is empty; walk on with `node.next`. */
  get first(): T | undefined {
    return this.#first
  }

  /** Whether `node` is in the list. */
  has(node: T): boolean {
    return node.prev !== undefined || this.#first === node
  }

  /** Adds `node` unless it is in the list already. */
  add(node: T): void {
    if (this.has(node)) return
    node.next = this.#first
    if (this.#first) this.#first.prev = node
    this.#first = node
    this.#size++
  }

  /** Removes `node`; harmless when it is not in the list. */
  remove(node: T): void {
    if (!this.has(node)) return
    if (node.prev) node.prev.next = node.next
    else this.#first = node.next
    if (node.next) node.next.prev = node.prev
    node.prev = node.next = undefined
    this.#size--
  }
}
