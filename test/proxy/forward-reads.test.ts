/**
 * forwardReads' buffer rules, driven read by read. The end-to-end check (concurrent downloads byte for byte) is in
 * tunnel.test.ts; here each rule is hit deterministically, with a client whose writes stay queued until released.
 */
import type { Socket } from 'node:net'
import { Writable } from 'node:stream'
import t from 'tap'
import { forwardReads } from '../../proxy/forward-reads.js'

/** A client that takes writes only when told: what a socket does when the peer stops reading. */
function heldClient(): { client: Writable; received: Buffer[]; release(): void } {
  const received: Buffer[] = []
  let pending: (() => void) | undefined
  const client = new Writable({
    write(chunk: Buffer, _encoding, done) {
      // Copied only when the write completes, as the kernel would take it: until then it must not change.
      pending = () => (received.push(Buffer.from(chunk)), done())
    },
  })
  return { client, received, release: () => (pending?.(), (pending = undefined)) }
}

/** A client that takes every write at once, as a socket with room in its send buffer does. */
function openClient(): { client: Writable; received: Buffer[] } {
  const received: Buffer[] = []
  return { client: new Writable({ write: (chunk: Buffer, _encoding, done) => (received.push(Buffer.from(chunk)), done()) }), received }
}

/** What net does for one read: fill the buffer the tunnel hands out, then call back with it. */
function read(reads: ReturnType<typeof forwardReads>, bytes: Buffer): boolean {
  const buffer = reads.onread.buffer()
  bytes.copy(buffer)
  return reads.onread.callback(bytes.length, buffer)
}

/** Stands in for the upstream socket in `start`: only `resume` is called. */
function upstream(): Socket & { resumes: number } {
  const socket = { resumes: 0, resume: () => (socket.resumes++, socket) }
  return socket as unknown as Socket & { resumes: number }
}

t.test('a small read queued for a slow client is not changed by another tunnel reading after it', async (t) => {
  const slow = heldClient()
  const first = forwardReads(slow.client)
  first.start(upstream())
  const other = forwardReads(openClient().client)
  other.start(upstream())
  t.equal(read(first, Buffer.from('first tunnel, small read')), false, 'the write is queued: stop reading')
  read(other, Buffer.from('OTHER TUNNEL OVERWRITES THE SHARED BUFFER'))
  slow.release()
  t.equal(Buffer.concat(slow.received).toString(), 'first tunnel, small read', 'the slow client got its own bytes')
})

t.test('a large read queued for a slow client pauses the upstream until that write is done', async (t) => {
  const slow = heldClient()
  const reads = forwardReads(slow.client)
  const socket = upstream()
  reads.start(socket)
  const resumesAtStart = socket.resumes
  const big = Buffer.alloc(64 * 1024, 'a')
  t.equal(read(reads, big), false, 'reading stops while the write is queued')
  t.equal(socket.resumes, resumesAtStart, 'not resumed yet')
  slow.release()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(socket.resumes, resumesAtStart + 1, 'resumed once the write went out')
  t.equal(read(reads, Buffer.alloc(64 * 1024, 'b')), false, 'the next read is queued too')
  slow.release()
  t.same(slow.received.map((chunk) => chunk.toString('latin1', 0, 1)), ['a', 'b'], 'both reads arrived, in order, unchanged')
  t.ok(slow.received.every((chunk) => chunk.length === 64 * 1024))
})

t.test('large reads get a buffer of the tunnel\'s own; a small read gives it back', async (t) => {
  const fast = openClient()
  const reads = forwardReads(fast.client)
  reads.start(upstream())
  const shared = reads.onread.buffer()
  t.equal(read(reads, Buffer.alloc(64 * 1024, 1)), true, 'written at once: keep reading')
  const own = reads.onread.buffer()
  t.not(own, shared, 'a large read: the next one lands in the tunnel\'s own buffer')
  read(reads, Buffer.alloc(20 * 1024, 2))
  t.equal(reads.onread.buffer(), own, 'a read that is still large keeps it')
  read(reads, Buffer.alloc(100, 3))
  t.equal(reads.onread.buffer(), shared, 'a small read: back to the shared buffer, so a quiet tunnel holds none')
  t.same(fast.received.map((chunk) => [chunk.length, chunk[0]]), [[64 * 1024, 1], [20 * 1024, 2], [100, 3]])
})
