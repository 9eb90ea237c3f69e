/** The client going away, as an AbortSignal built only when something waits long enough to need one. */
import type { EventEmitter } from 'node:events'

/** Returns the signal, creating it on first use; most requests never park, so most never pay for one. */
export type ClientGone = () => AbortSignal

/**
 * A fixed reason: `abort()` without one builds a DOMException with a stack trace. Together with the
 * AbortController itself that cost showed up in profiles when every request made one.
 */
const CLIENT_GONE = Object.freeze(Object.assign(new Error('the client went away'), { code: 'GUARDED_CLIENT_GONE' }))

/** A lazy signal that aborts when `source` (a client socket or response) emits 'close'. */
export function clientGone(source: EventEmitter & { readonly destroyed?: boolean }): ClientGone {
  let signal: AbortSignal | undefined
  return () => {
    if (signal) return signal
    const controller = new AbortController()
    if (source.destroyed) controller.abort(CLIENT_GONE)
    else source.once('close', () => controller.abort(CLIENT_GONE))
    return (signal = controller.signal)
  }
}
