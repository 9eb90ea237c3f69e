/**
 * Reads a tunnel's first client bytes, up to one whole ClientHello, before any of them reaches the destination.
 * The upstream's bytes may flow to the client meanwhile (forward-reads.ts): that direction is not held back.
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FirstBytesSeen } from './check-client-hello.js'
import { after } from './deadline.js'
import { CLIENT_HELLO_MAX_BYTES, readClientHello } from './read-client-hello.js'

/** The bytes held back (to be written upstream or into the TLS terminator first), their parse, and whether a side closed. */
export interface FirstBytes extends FirstBytesSeen {
  readonly bytes: Buffer
  /** A side closed or failed while we waited: there is nothing left to check or carry. */
  readonly closed: boolean
}

/**
 * Waits until the bytes are a verdict (hello, not TLS, malformed), `timeoutMs` passes, or a side closes. Leaves
 * the client paused with no listeners of ours, so `pipe` (or a TLS socket) takes over without losing a byte.
 */
export function readFirstBytes(client: Duplex, head: Buffer, timeoutMs: number, upstream?: Socket): Promise<FirstBytes> {
  return new Promise((resolve) => {
    let bytes = head
    let hello = readClientHello(bytes) // kept: a ClientHello is parsed once per chunk, not again at the end
    const finish = (closed: boolean): void => {
      limit.cancel()
      client.pause()
      client.off('data', onData).off('close', onClose).off('end', onClose)
      upstream?.off('close', onClose)
      resolve({ hello, length: bytes.length, bytes, closed })
    }
    const onData = (chunk: Buffer): void => {
      bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk])
      hello = readClientHello(bytes)
      if (hello.kind !== 'need-more' || bytes.length > CLIENT_HELLO_MAX_BYTES) finish(false)
    }
    const onClose = (): void => finish(true)
    const limit = after(timeoutMs, () => finish(false))
    if (bytes.length > 0 && hello.kind !== 'need-more') return finish(false)
    // A client that half-closed while its tunnel was being set up (admission, an approval, the connect) had its
    // 'end' emitted then, with no one listening: net goes on reading a paused socket. It will send nothing more.
    if (client.readableEnded) return finish(true)
    client.on('data', onData).once('close', onClose).once('end', onClose)
    upstream?.once('close', onClose)
    client.resume()
  })
}
