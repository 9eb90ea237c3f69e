/**
 * A pure TLS ClientHello parser: the proxy peeks at an opaque tunnel's first bytes to check the SNI against the
 * CONNECT target before any byte reaches the destination. RFC 8446 §4.1.2 and §5.1, RFC 6066 §3, RFC 7301 §3.1.
 */

/** What the bytes so far say: wait for more, not TLS at all, a ClientHello, or TLS that breaks the rules. */
export type ClientHelloResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'not-tls' }
  /** `sni` is exactly as sent (ASCII, not lower-cased): normalise it before comparing. */
  | { readonly kind: 'hello'; readonly sni?: string; readonly alpn: string[] }
  | { readonly kind: 'malformed'; readonly problem: string }

/** Most input the proxy buffers for one ClientHello, record headers included; real ones are 0.5–2 KiB. */
export const CLIENT_HELLO_MAX_BYTES = 16 * 1024

const HANDSHAKE = 22
const CLIENT_HELLO = 1
const RECORD_HEADER = 5
const MAX_RECORD = 16 * 1024 // RFC 8446 §5.1: a plaintext fragment is at most 2^14 bytes
const EXT_SERVER_NAME = 0
const EXT_ALPN = 16
const NEED_MORE: ClientHelloResult = Object.freeze({ kind: 'need-more' })
const NOT_TLS: ClientHelloResult = Object.freeze({ kind: 'not-tls' })

/** Reads the ClientHello from the bytes a client has sent so far; never throws, whatever the input. */
export function readClientHello(buf: Buffer): ClientHelloResult {
  try {
    const message = handshakeMessage(buf)
    return Buffer.isBuffer(message) ? parseClientHello(new Reader(message)) : message
  } catch (err) {
    if (err instanceof Problem) return { kind: 'malformed', problem: err.message }
    throw err
  }
}

/** Collects the handshake message across as many records as it spans; the first record decides TLS or not. */
function handshakeMessage(buf: Buffer): Buffer | ClientHelloResult {
  const fragments: Buffer[] = []
  let offset = 0
  let have = 0
  let needed: number | undefined
  while (needed === undefined || have < needed) {
    if (offset > CLIENT_HELLO_MAX_BYTES) throw new Problem(`ClientHello spans more than ${CLIENT_HELLO_MAX_BYTES} bytes of records`)
    const length = recordLength(buf, offset)
    if (typeof length !== 'number') return length
    const fragment = buf.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length)
    fragments.push(fragment)
    have += fragment.length
    offset += RECORD_HEADER + length
    needed ??= have >= 4 ? messageLength(Buffer.concat(fragments, 4)) : undefined
    if (fragment.length < length && (needed === undefined || have < needed)) return NEED_MORE
  }
  return Buffer.concat(fragments, needed)
}

/** Checks one record header as far as it has arrived; a bad first record means "not TLS", a bad later one "malformed". */
function recordLength(buf: Buffer, offset: number): number | ClientHelloResult {
  const type = buf[offset]
  const major = buf[offset + 1]
  if (type !== undefined && type !== HANDSHAKE) return offset === 0 ? NOT_TLS : fail(`record of content type ${type} inside the ClientHello`)
  if (major !== undefined && major !== 3) return offset === 0 ? NOT_TLS : fail(`record version ${major}.x inside the ClientHello`)
  if (buf.length < offset + RECORD_HEADER) return NEED_MORE
  const length = buf.readUInt16BE(offset + 3)
  if (length === 0) throw new Problem('empty handshake record') // RFC 8446 §5.1 forbids them
  if (length > MAX_RECORD) throw new Problem(`record of ${length} bytes exceeds 2^14`)
  return length
}

/** The whole handshake message's size from its 4-byte header, refusing anything but a ClientHello that fits the cap. */
function messageLength(header: Buffer): number {
  if (header[0] !== CLIENT_HELLO) throw new Problem(`first handshake message has type ${header[0]}, not ClientHello`)
  const length = 4 + header.readUIntBE(1, 3)
  if (length + RECORD_HEADER > CLIENT_HELLO_MAX_BYTES) throw new Problem(`ClientHello of ${length} bytes exceeds ${CLIENT_HELLO_MAX_BYTES}`)
  return length
}

function parseClientHello(message: Reader): ClientHelloResult {
  message.skip(4, 'handshake header')
  if (message.u8('legacy_version') !== 3) throw new Problem('ClientHello legacy_version is not 3.x')
  message.skip(1 + 32, 'random')
  if (message.vector(1, 'legacy_session_id').remaining > 32) throw new Problem('session id longer than 32 bytes')
  const suites = message.vector(2, 'cipher_suites').remaining
  if (suites === 0 || suites % 2 !== 0) throw new Problem(`cipher_suites of ${suites} bytes`)
  if (message.vector(1, 'legacy_compression_methods').remaining === 0) throw new Problem('no compression methods')
  if (message.remaining === 0) return { kind: 'hello', alpn: [] } // pre-extension clients may stop here
  const extensions = message.vector(2, 'extensions')
  message.end('ClientHello')
  return readExtensions(extensions)
}

function readExtensions(extensions: Reader): ClientHelloResult {
  const seen = new Set<number>()
  let sni: string | undefined
  let alpn: string[] = []
  while (extensions.remaining > 0) {
    const type = extensions.u16('extension type')
    const data = extensions.vector(2, `extension ${type}`)
    // RFC 8446 §4.2: one of each. Two server_name extensions could let the checker and the server read different names.
    if (seen.has(type)) throw new Problem(`extension ${type} appears twice`)
    seen.add(type)
    if (type === EXT_SERVER_NAME) sni = readServerName(data)
    if (type === EXT_ALPN) alpn = readAlpn(data)
  }
  return sni === undefined ? { kind: 'hello', alpn } : { kind: 'hello', sni, alpn }
}

// What a DNS host name (or an IP literal a non-conforming client sends) is made of; anything else cannot be checked.
const HOST_NAME = /^[A-Za-z0-9._-]{1,255}$/

/** RFC 6066 §3: a list of (type, name); at most one host_name (type 0), which must look like a host name. */
function readServerName(data: Reader): string | undefined {
  const list = data.vector(2, 'server_name_list')
  data.end('server_name')
  if (list.remaining === 0) throw new Problem('empty server_name_list')
  let host: string | undefined
  while (list.remaining > 0) {
    const nameType = list.u8('name_type')
    const name = list.vector(2, 'server name').rest().toString('latin1')
    if (nameType !== 0) continue // unknown name types are skipped, as RFC 6066 lets servers do
    if (host !== undefined) throw new Problem('two host names in server_name')
    if (!HOST_NAME.test(name)) throw new Problem(`server_name host ${JSON.stringify(name)} is not a host name`)
    host = name
  }
  return host
}

/** RFC 7301 §3.1: a non-empty list of non-empty protocol names. */
function readAlpn(data: Reader): string[] {
  const list = data.vector(2, 'protocol_name_list')
  data.end('application_layer_protocol_negotiation')
  if (list.remaining === 0) throw new Problem('empty ALPN list')
  const protocols: string[] = []
  while (list.remaining > 0) {
    const name = list.vector(1, 'protocol name').rest()
    if (name.length === 0) throw new Problem('empty ALPN protocol name')
    protocols.push(name.toString('latin1'))
  }
  return protocols
}

/** Why the bytes are not a valid ClientHello; only ever caught inside `readClientHello`. */
class Problem extends Error {}

function fail(problem: string): ClientHelloResult {
  return { kind: 'malformed', problem }
}

/** A bounds-checked cursor over a complete handshake message: running out of bytes here means a lying length. */
class Reader {
  #pos = 0

  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.#pos
  }

  u8(what: string): number {
    return this.take(1, what).readUInt8(0)
  }

  u16(what: string): number {
    return this.take(2, what).readUInt16BE(0)
  }

  skip(n: number, what: string): void {
    this.take(n, what)
  }

  /** A length-prefixed vector (1- or 2-byte length) as its own reader. */
  vector(lengthBytes: 1 | 2, what: string): Reader {
    const length = lengthBytes === 1 ? this.u8(what) : this.u16(what)
    return new Reader(this.take(length, what))
  }

  rest(): Buffer {
    return this.take(this.remaining, 'rest')
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new Problem(`${this.remaining} stray bytes after ${what}`)
  }

  private take(n: number, what: string): Buffer {
    if (n > this.remaining) throw new Problem(`${what} runs past its enclosing length`)
    const slice = this.buf.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    return slice
  }
}
