/** Opens the upstream TCP connection to the one address that was checked. */
import type { EventEmitter } from 'node:events'
import { connect, type OnReadOpts, type Socket } from 'node:net'
import { after } from './deadline.js'
import { UpstreamError } from './errors.js'

/**
 * Connects, failing with a typed UpstreamError on refusal, reset, timeout, or the client's 'close'.
 * `onread` hands the socket's reads to a callback instead of a stream (forward-reads.ts); such a socket
 * resolves paused, so nothing reaches the callback before the caller has answered its client.
 */
export function connectTo(address: string, port: number, timeoutMs: number, client?: EventEmitter, onread?: OnReadOpts): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, noDelay: true, ...(onread && { onread }) })
    const fail = (err: Error): void => {
      cleanup()
      socket.destroy()
      reject(err)
    }
    const onError = (err: NodeJS.ErrnoException): void =>
      fail(new UpstreamError('GUARDED_UPSTREAM_UNREACHABLE', `connecting to ${address}:${port} failed: ${err.code ?? err.message}`))
    const onTimeout = (): void =>
      fail(new UpstreamError('GUARDED_UPSTREAM_TIMEOUT', `connecting to ${address}:${port} took longer than ${timeoutMs} ms`))
    const onAbort = (): void => fail(new UpstreamError('GUARDED_UPSTREAM_UNREACHABLE', 'the client went away before the upstream connected'))
    const limit = after(timeoutMs, onTimeout)
    const cleanup = (): void => {
      limit.cancel()
      socket.off('error', onError)
      client?.off('close', onAbort)
    }
    socket.once('error', onError)
    // A plain listener, not an AbortSignal: creating one per connection showed up in profiles.
    client?.once('close', onAbort)
    socket.once('connect', () => {
      if (onread) socket.pause() // before net starts reading, right after this event
      cleanup()
      resolve(socket)
    })
  })
}
