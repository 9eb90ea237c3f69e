/** Refuses request features the proxy will not carry: they are where request smuggling lives. */
import type { IncomingMessage } from 'node:http'
import { BadTargetError } from './errors.js'

/**
 * `Upgrade: h2c` would switch the connection to HTTP/2 past our per-request checks, and a transfer
 * coding other than `chunked` cannot be framed consistently by every hop (RFC 9112 §6.1).
 */
export function checkProtocol(req: IncomingMessage): void {
  const upgrade = req.headers.upgrade
  if (upgrade && /(^|,)\s*h2c\s*(,|$)/i.test(upgrade)) {
    throw new BadTargetError('Upgrade: h2c is refused; speak HTTP/1.1, or use CONNECT for HTTP/2 over TLS', 'unsupported-protocol')
  }
  const te = req.headers['transfer-encoding']
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') {
    throw new BadTargetError(`Transfer-Encoding ${JSON.stringify(te)} is refused; only chunked is carried`, 'unsupported-protocol')
  }
}
