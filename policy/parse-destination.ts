/** Parses `HOST[:PORT]` as people type it on a command line or in an expectations file. */
import { normalizeHost } from './normalize-host.js'
import type { Destination } from './types.js'

/** A destination, or why the text is not one; a missing port is 443. */
export function parseDestination(text: string, defaultPort = 443): { ok: true; value: Destination } | { ok: false; message: string } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)|([^[\]]*:[^[\]]*:[^[\]]*))(?::(\d{1,5}))?$/.exec(text.trim())
  const raw = match?.[1] ?? match?.[2] ?? match?.[3]
  const port = match?.[4] === undefined ? defaultPort : Number(match[4])
  const host = raw === undefined ? undefined : normalizeHost(raw)
  if (!host?.ok || port < 1 || port > 65535) return { ok: false, message: `'${text}' is not HOST[:PORT] (e.g. api.github.com:443 or [2001:db8::1]:443)` }
  return { ok: true, value: { host: host.host, port, kind: host.kind } }
}

/** `host:port`, bracketing IPv6. */
export function formatDestination(dest: Destination): string {
  return `${dest.kind === 6 ? `[${dest.host}]` : dest.host}:${dest.port}`
}
