/**
 * The upstream-to-client half of a tunnel, without a stream in between: libuv reads into a buffer we
 * hand it (net's `onread`), and each read is written straight to the client.
 *
 * Why not `upstream.pipe(client)`: a piped socket allocates a fresh 64 KiB buffer for every read. At
 * tunnel speeds that is ~30 MiB of external memory in flight between scavenges, which V8 counts against
 * the old generation's limit; once the proxy's own heap had been through one full collection, every
 * ~60 ms of download set off another (bench: 550 MB/s piped, ~1,700 MB/s this way, same machine).
 */
import type { Socket } from 'node:net'
import type { Writable } from 'node:stream'
import type { Deadline } from './deadline.js'

/** libuv's read size for TCP: a full read means more is waiting in the kernel. */
const READ_SIZE = 64 * 1024

/**
 * A read this small means the stream is trickling (interactive traffic, the tail of a response): the
 * tunnel goes back to the shared buffer, whose copies this small come from Node's buffer pool.
 */
const TRICKLE = 16 * 1024

/**
 * Where every tunnel's first read lands, and any read after its stream slowed down. Its bytes are copied
 * out before the callback returns, so no pending write ever points into it.
 */
const shared = Buffer.allocUnsafeSlow(READ_SIZE)

/** What a tunnel gives `net.connect`, and the switch that lets the bytes flow once the client got its `200`. */
export interface ForwardedReads {
  /** For `net.connect({ onread })`; the socket must be paused until `start` (connect-to.ts pauses it). */
  readonly onread: { buffer(): Buffer; callback(bytes: number, buffer: Buffer): boolean }
  /** Starts reading the upstream and writing to the client; call once. */
  start(upstream: Socket): void
}

/**
 * Forwards reads to `client` with back-pressure: while a write is still queued (the client reads slower
 * than the upstream sends), reading stops, so at most one buffer per tunnel is in flight.
 *
 * A tunnel gets a buffer of its own at its first large read (a download is under way), and gives it back
 * at the first small one. A tunnel that never moved much data holds no read buffer; one that went quiet
 * right after a large read holds its 64 KiB until its next read or its close. Each write to the client, once
 * finished, marks `idle` (the client connection's idle limit, when the proxy watches it) active.
 */
export function forwardReads(client: Writable, idle?: Deadline): ForwardedReads {
  let own: Buffer | undefined
  let upstream: Socket | undefined
  let waiting = false
  const resume = (err?: Error | null): void => {
    if (idle) idle.active = true
    if (!waiting || err) return
    waiting = false
    upstream?.resume()
  }
  return {
    onread: {
      buffer: () => own ?? shared,
      callback(bytes, buffer) {
        const chunk = buffer === shared ? Buffer.from(buffer.subarray(0, bytes)) : buffer.subarray(0, bytes)
        own = bytes < TRICKLE ? undefined : (own ?? Buffer.allocUnsafeSlow(READ_SIZE))
        client.write(chunk, resume)
        // Handed to the kernel at once: the buffer is free for the next read. Otherwise wait for this write.
        waiting = client.writableLength > 0
        return !waiting
      },
    },
    start(socket) {
      upstream = socket
      socket.resume()
    },
  }
}
