/**
 * UTF-8 text appended into one growing buffer. The sinks build each record's JSON from many small
 * strings, which V8 keeps as a tree of pieces until the text is needed; a batch of records kept
 * that way lived long enough for the garbage collector to copy it, which cost more than building it
 * (issue 4). Written in here as each record is made, the pieces die young.
 */
export class Bytes {
  #buffer: Buffer
  #length = 0

  constructor(capacity: number) {
    this.#buffer = Buffer.allocUnsafe(capacity)
  }

  write(text: string): void {
    const most = text.length * 3 // a UTF-16 code unit is at most 3 bytes of UTF-8
    if (this.#length + most > this.#buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + most))
      this.#buffer.copy(grown, 0, 0, this.#length)
      this.#buffer = grown
    }
    this.#length += this.#buffer.write(text, this.#length)
  }

  /** What was written (a view, not a copy). */
  bytes(): Buffer {
    return this.#buffer.subarray(0, this.#length)
  }
}
