/** Turns what a client asked for into a normalised `Destination`, or a `BadTargetError` saying why not. */
import { normalizeHost } from '../policy/normalize-host.js'
import type { Destination } from '../policy/types.js'
import { BadTargetError } from './errors.js'

/** The name the proxy serves itself; it is never resolved or forwarded. */
export const RESERVED_HOST = 'guarded.internal'

const PORT = /^[1-9][0-9]{0,4}$/

/** Parses a port written in plain decimal, 1-65535, with no sign, space or leading zero. */
export function parsePort(text: string): number | undefined {
  if (!PORT.test(text)) return undefined
  const port = Number(text)
  return port <= 65535 ? port : undefined
}

/**
 * Splits `host:port` / `[v6]:port` without interpreting either half. An IPv6 literal must be bracketed
 * (RFC 3986 §3.2.2): `2001:db8::1:443` could be an address with no port, so it is refused, not guessed.
 */
function splitAuthority(authority: string): { host: string; port: string | undefined } {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']')
    if (end < 0) return { host: authority, port: undefined }
    const rest = authority.slice(end + 1)
    if (rest !== '' && !rest.startsWith(':')) throw new BadTargetError(`${JSON.stringify(authority)}: expected ':' and a port after the IPv6 literal`)
    return { host: authority.slice(0, end + 1), port: rest === '' ? undefined : rest.slice(1) }
  }
  const colon = authority.lastIndexOf(':')
  if (colon < 0) return { host: authority, port: undefined }
  const host = authority.slice(0, colon)
  if (host.includes(':')) throw new BadTargetError(`invalid host in ${JSON.stringify(authority)}: an IPv6 address must be written in brackets, [v6]:port`)
  return { host, port: authority.slice(colon + 1) }
}

/** Normalises a host through the one normaliser the policy also uses. */
function toDestination(hostText: string, port: number): Destination {
  const normal = normalizeHost(hostText)
  if (!normal.ok) throw new BadTargetError(`invalid host ${JSON.stringify(hostText)}: ${normal.problem}`)
  return { host: normal.host, port, kind: normal.kind }
}

/**
 * Parses a CONNECT request-target, which RFC 9110 §9.3.6 requires in authority-form: `host:port`.
 * The port is mandatory; anything looser is a 400, because lenient parsing is how filters get bypassed.
 */
export function parseConnectTarget(target: string): Destination {
  const { host, port } = splitAuthority(target)
  if (port === undefined) throw new BadTargetError(`CONNECT target ${JSON.stringify(target)} has no port; write host:port`)
  const number = parsePort(port)
  if (number === undefined) throw new BadTargetError(`CONNECT target ${JSON.stringify(target)} has an invalid port; use 1-65535 in plain decimal`)
  return toDestination(host, number)
}

/** Parses the authority of an absolute-form URI or a Host header; the port defaults to 80. */
export function parseHttpAuthority(authority: string): Destination {
  const { host, port } = splitAuthority(authority)
  if (port === undefined || port === '') return toDestination(host, 80)
  const number = parsePort(port)
  if (number === undefined) throw new BadTargetError(`invalid port in ${JSON.stringify(authority)}; use 1-65535 in plain decimal`)
  return toDestination(host, number)
}

/** A plain-HTTP proxy request split into where it goes and the origin-form path to send. */
export interface HttpTarget {
  readonly destination: Destination
  readonly path: string
}

const ABSOLUTE = /^http:\/\/([^/?#]*)([^#]*)$/i

/**
 * Parses an absolute-form request-target (`GET http://host/path`) and checks that the one Host
 * header names the same authority (RFC 9112 §3.2.2): a mismatch is how virtual-host confusion starts.
 */
export function parseHttpTarget(url: string, rawHeaders: readonly string[]): HttpTarget {
  if (url.startsWith('/') || url === '*') {
    throw new BadTargetError('this is a proxy: send requests in absolute form (GET http://host/path) or use CONNECT host:port', 'not-a-proxy-request')
  }
  const match = ABSOLUTE.exec(url)
  if (!match) throw new BadTargetError(`unsupported request target ${JSON.stringify(url.slice(0, 200))}; only http:// URLs are forwarded, use CONNECT for https`)
  const authority = match[1] ?? ''
  if (authority.includes('@')) throw new BadTargetError('userinfo in the request URI is not allowed')
  const destination = parseHttpAuthority(authority)
  checkHostHeader(destination, rawHeaders)
  const rest = match[2] ?? ''
  return { destination, path: rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}` }
}

/** Exactly one Host header, naming the same host and port as the request URI. */
function checkHostHeader(destination: Destination, rawHeaders: readonly string[]): void {
  const hosts: string[] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === 'host') hosts.push(rawHeaders[i + 1] ?? '')
  }
  if (hosts.length > 1) throw new BadTargetError('the request has more than one Host header')
  if (hosts.length === 0) return
  const named = parseHttpAuthority(hosts[0] ?? '')
  if (named.host !== destination.host || named.port !== destination.port) {
    throw new BadTargetError(`the Host header (${named.host}:${named.port}) does not name the request URI's authority (${destination.host}:${destination.port})`)
  }
}

/** Writes a destination back as an authority, bracketing IPv6 and omitting the scheme's default port. */
export function formatAuthority(destination: Destination, defaultPort?: number): string {
  const host = destination.kind === 6 ? `[${destination.host}]` : destination.host
  return destination.port === defaultPort ? host : `${host}:${destination.port}`
}
