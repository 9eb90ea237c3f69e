/** How a tunnel that already got `200 Connection established` is refused: in the protocol the client is speaking. */
import type { Duplex } from 'node:stream'
import type { FirstBytesSeen } from './check-client-hello.js'
import type { RefusalWriter } from './refuse-record.js'
import { writeRefusalToSocket } from './refuse.js'

// RFC 8446 §6: a fatal alert record; the client's TLS stack reports the description, so the agent sees a reason.
const ALERT_UNRECOGNIZED_NAME = 112
const ALERT_DECODE_ERROR = 50

/**
 * A client speaking TLS gets a fatal alert (it cannot read an HTTP body); one speaking plaintext, say HTTP by
 * mistake on a TLS port, gets the explained refusal. The event carries the full reason either way.
 */
export function refuseOpenTunnel(socket: Duplex, seen: FirstBytesSeen, reason: 'sni-mismatch' | 'not-tls'): RefusalWriter {
  return (refusal) => {
    if (seen.hello.kind === 'not-tls' || seen.length === 0) return writeRefusalToSocket(socket, refusal)
    const description = reason === 'sni-mismatch' ? ALERT_UNRECOGNIZED_NAME : ALERT_DECODE_ERROR
    if (socket.writable) socket.end(Buffer.from([21, 3, 3, 0, 2, 2, description]))
  }
}
