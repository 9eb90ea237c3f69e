/**
 * The CONNECT request head, read without Node's HTTP parser, for connections that open with one.
 *
 * Most connections to a proxy in front of a coding agent are one CONNECT each (HTTPS everywhere), and
 * for those Node's HTTP machinery (a parser taken from its pool and handed back, an IncomingMessage,
 * the server's connection tracking) was a tenth of the proxy's CPU per tunnel (issue 2's CONNECT rate).
 *
 * This reader takes only the plain, canonical form in a first read: `CONNECT host:port HTTP/1.x`, then
 * `Name: value` lines of visible ASCII, each name once, no body headers, the whole head within the size
 * limit. Anything else, however legal, goes to Node's parser exactly as before, so a head read here can
 * never mean something other than what Node would have made of it; this only skips the work.
 */
import type { IncomingHttpHeaders } from 'node:http'

/** A CONNECT head as a handler needs it: the request target and the headers, names lower-cased. */
export interface ConnectHead {
  readonly url: string
  readonly headers: IncomingHttpHeaders
  /** Bytes after the head (a client may send its ClientHello without waiting for the 200). */
  readonly rest: Buffer
}

const PREFIX = 'CONNECT '
const HEAD_END = '\r\n\r\n'
/** What `rest` is when nothing followed the head, shared: most clients wait for the 200. */
const NOTHING = Buffer.alloc(0)
const REQUEST_LINE = /^CONNECT ([A-Za-z0-9._\-[\]:]+) HTTP\/1\.[01]$/
/** RFC 9110 token characters: a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** A header value of visible ASCII, spaces and tabs; obs-text and controls go to Node's parser. */
const VALUE = /^[\t\x20-\x7e]*$/
/** More header lines than any client sends with a CONNECT; Node's parser takes the rare head beyond it. */
const MAX_HEADERS = 32
/**
 * Headers whose presence gives a CONNECT a body or a protocol change: Node's parser decides those.
 * `__proto__` too: as a key of the plain object below it would set no header.
 */
const LEFT_TO_NODE = new Set(['content-length', 'transfer-encoding', 'upgrade', 'expect', '__proto__'])

/**
 * Reads the head from `chunk`, the connection's first read. Returns undefined when this is not a
 * complete CONNECT head in the canonical form: the caller then hands the bytes to Node's parser.
 * Written with one conversion to text, then indexOf and slices rather than split and a null-prototype
 * object: this runs once per tunnel, and each Buffer method (compare, indexOf) is a call into C++ that
 * costs several times a search in a string.
 */
export function readConnectHead(chunk: Buffer, maxHeaderBytes: number): ConnectHead | undefined {
  // Checked on the bytes first: a plain request's first read (an upload's can be 64 KiB) is not turned into text.
  if (!opensWithConnect(chunk)) return undefined
  // latin1 maps each byte to one character, so string offsets are byte offsets.
  const text = chunk.toString('latin1', 0, Math.min(chunk.length, maxHeaderBytes))
  const end = text.indexOf(HEAD_END) // within the size limit, since the text stops there
  if (end < 0) return undefined
  let lineEnd = text.indexOf('\r\n') // at `end` when there are no header lines
  const request = REQUEST_LINE.exec(text.slice(0, lineEnd))
  if (!request) return undefined
  const headers: Record<string, string> = {}
  for (let count = 0; lineEnd < end; count++) {
    if (count === MAX_HEADERS) return undefined
    const start = lineEnd + 2
    lineEnd = text.indexOf('\r\n', start) // found: at `end` at the latest
    const colon = text.indexOf(':', start)
    if (colon <= start || colon >= lineEnd) return undefined
    const name = text.slice(start, colon)
    const value = text.slice(colon + 1, lineEnd)
    if (!TOKEN.test(name) || !VALUE.test(value)) return undefined
    const key = name.toLowerCase()
    if (Object.hasOwn(headers, key) || LEFT_TO_NODE.has(key)) return undefined
    headers[key] = value.trim() // VALUE leaves only spaces and tabs for trim() to take
  }
  const restAt = end + HEAD_END.length
  return { url: request[1]!, headers, rest: restAt === chunk.length ? NOTHING : chunk.subarray(restAt) }
}

/** Whether the bytes open with `CONNECT `, read byte by byte (no call into C++). */
function opensWithConnect(chunk: Buffer): boolean {
  if (chunk.length < PREFIX.length) return false
  for (let i = 0; i < PREFIX.length; i++) if (chunk[i] !== PREFIX.charCodeAt(i)) return false
  return true
}
