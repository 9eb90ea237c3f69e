/** Hop-by-hop header handling (RFC 9110 §7.6.1): these describe one connection and are never forwarded. */
import type { IncomingHttpHeaders } from 'node:http'

const ALWAYS = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']

/**
 * Removes hop-by-hop headers, including every header the `Connection` header names (a client could
 * otherwise ask us to drop, say, `Authorization` or smuggle its own).
 * `keepUpgrade` leaves `Connection: upgrade` and `Upgrade` for a WebSocket handshake.
 */
export function stripHopByHop(headers: IncomingHttpHeaders | Record<string, unknown>, keepUpgrade = false): void {
  const connection = headers['connection']
  const named = typeof connection === 'string' ? connection.split(',') : Array.isArray(connection) ? connection.join(',').split(',') : []
  for (const name of named) {
    const key = name.trim().toLowerCase()
    if (key !== '' && !(keepUpgrade && key === 'upgrade')) delete headers[key]
  }
  for (const key of ALWAYS) {
    if (keepUpgrade && (key === 'upgrade' || key === 'connection')) continue
    delete headers[key]
  }
  if (keepUpgrade) headers['connection'] = 'upgrade'
}
