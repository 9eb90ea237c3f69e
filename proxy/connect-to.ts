/** Opens the upstream TCP connection to the one address that was checked. */
import { connect, type Socket } from 'node:net'
import { UpstreamError } from './errors.js'

/** Connects, failing with a typed UpstreamError on refusal, reset, timeout or abort. */
export function connectTo(address: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
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
      signal?.removeEventListener('abort', onAbort)
    }
    socket.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => {
      cleanup()
      resolve(socket)
    })
  })
}
