/**
 * A client connection's idle limit, watched one of two ways: by the proxy (a `Deadline` the tunnel marks
 * active as bytes move), or by Node's socket timer where Node reads the socket out of the proxy's sight
 * (its HTTP parser, a TLS terminator). Either way it ends the same: a 'timeout' event (a tunnel records
 * its outcome from it), then the socket destroyed.
 */
import type { Socket } from 'node:net'
import { Deadline } from './deadline.js'

/** Starts the proxy-watched limit; it is cancelled when the socket closes. */
export function idleLimit(socket: Socket, ms: number): Deadline {
  const limit = new Deadline(ms, true).start(() => (socket.emit('timeout'), socket.destroy()))
  socket.once('close', () => limit.cancel())
  return limit
}

/** Hands the limit to Node's socket timer (after cancelling the proxy's, when there is one). */
export function nodeIdleTimer(socket: Socket, ms: number, limit?: Deadline): Socket {
  limit?.cancel()
  socket.setTimeout(ms, () => socket.destroy())
  return socket
}
