/**
 * A client connection's idle limit, watched one of two ways: by the proxy (a `Deadline` the tunnel marks
 * active as bytes move), or by Node's socket timer where Node reads the socket out of the proxy's sight
 * (its HTTP parser, a TLS terminator). Either way it ends the same: a 'timeout' event (a tunnel records
 * its outcome from it), then the socket destroyed.
 */
import type { Socket } from 'node:net'
import { Deadline } from './deadline.js'

/** Starts the proxy-watched limit; its owner cancels it when the socket closes (client-connection.ts). */
export function idleLimit(socket: Socket, ms: number): Deadline {
  return new Deadline(ms, true).start(idleTimedOut, socket)
}

function idleTimedOut(socket: Socket): void {
  socket.emit('timeout')
  socket.destroy()
}

/** Hands the limit to Node's socket timer (after cancelling the proxy's, when there is one). */
export function nodeIdleTimer(socket: Socket, ms: number, limit?: Deadline): Socket {
  limit?.cancel()
  socket.setTimeout(ms, () => socket.destroy())
  return socket
}
