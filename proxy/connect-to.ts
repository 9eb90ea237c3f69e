/** Opens the upstream TCP connection to the one address that was checked. */
import type { EventEmitter } from 'node:events'
import { connect, type Socket } from 'node:net'
import { UpstreamError } from './errors.js'

/** Connects, failing with a typed UpstreamError on refusal, reset, timeout, or the client's 'close'. */
export function connectTo(address: string, port: number, timeoutMs: number, client?: EventEmitter): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port, noDelay: true })
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
    const timer = setTimeout(onTimeout, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      socket.off('error', onError)
      client?.off('close', onAbort)
    }
    socket.once('error', onError)
    // A plain listener, not an AbortSignal: creating one per connection showed up in profiles.
    client?.once('close', onAbort)
    socket.once('connect', () => {
      cleanup()
      resolve(socket)
    })
  })
}
