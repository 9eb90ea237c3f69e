/** Carries bytes both ways between the client and the upstream until both are done. */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Deadline } from './deadline.js'
import type { Outcome } from './events.js'

/** What a finished tunnel reports: bytes each way (counted by the kernel-facing sockets) and how it ended. */
export interface PipeResult {
  readonly sent: number
  readonly received: number
  readonly outcome: Outcome
  readonly errorType?: string
}

/**
 * Carries the client's bytes upstream with back-pressure (a slow upstream pauses the client instead of
 * buffering in memory); the upstream's bytes already flow to the client (forward-reads.ts). Keeps TCP
 * half-close working both ways, and tears both sides down on error or when the client connection's
 * idle limit fires ('timeout'). `idle`, when the proxy watches that limit itself, is marked active here.
 *
 * A `data` listener rather than `client.pipe(upstream)`: a stream pipe registers and later removes
 * eight listeners and their closures on the two sockets, and a busy proxy opens thousands of tunnels a
 * second (issue 2's CONNECT rate).
 */
export function pipe(client: Duplex, upstream: Socket, head?: Buffer, idle?: Deadline): Promise<PipeResult> {
  return new Promise((resolve) => {
    let outcome: Outcome | undefined
    let errorType: string | undefined
    let open = 2
    const finish = (): void => {
      if (--open > 0) return
      resolve({ sent: upstream.bytesWritten, received: upstream.bytesRead, outcome: outcome ?? 'completed', ...(errorType && { errorType }) })
    }
    const teardown = (why: Outcome, err?: NodeJS.ErrnoException): void => {
      outcome ??= why
      if (err && !errorType) errorType = err.code ?? err.name
      client.destroy()
      upstream.destroy()
    }
    // A side that closes without ending (destroyed at shutdown, or by a limit) takes the other with it;
    // otherwise the other side would stay open, and the record unemitted, until the idle timeout.
    const ended = { client: false, upstream: false }
    client.once('close', () => {
      if (!ended.client) teardown('client-closed')
      finish()
    })
    upstream.once('close', () => {
      if (!ended.upstream) teardown('upstream-closed')
      finish()
    })
    client.on('error', (err) => teardown('client-closed', err))
    upstream.on('error', (err) => teardown('upstream-error', err))
    const clientEnded = (): void => {
      ended.client = true
      outcome ??= 'client-closed'
      // The upstream may have ended itself already (an origin that closes first: net's allowHalfOpen is off),
      // and end() on an ended stream builds an error with a stack trace only to drop it: a tenth of a tunnel's CPU.
      if (!upstream.writableEnded) upstream.end() // after every byte already written to it
    }
    const upstreamEnded = (): void => {
      ended.upstream = true
      outcome ??= 'upstream-closed'
      if (!client.writableEnded) client.end()
    }
    client.once('end', clientEnded)
    upstream.once('end', upstreamEnded)
    client.on('timeout', () => teardown('timeout')) // the client connection's idle limit
    if (head && head.length > 0) upstream.write(head)
    // A side that ended before this tunnel listened (its 'end' came while the first bytes were read) is
    // ended here, or its half-close would never be passed on.
    if (client.readableEnded) clientEnded()
    if (upstream.readableEnded) upstreamEnded()
    const resumeClient = (): void => {
      if (idle) idle.active = true
      client.resume()
    }
    client.on('data', (chunk: Buffer) => {
      if (idle) idle.active = true
      if (upstream.write(chunk)) return
      client.pause() // until the upstream's kernel buffer has room again
      upstream.once('drain', resumeClient)
    })
    client.resume()
  })
}
