import net from 'node:net'
import tls from 'node:tls'
import t, { type Test } from 'tap'
import { CLIENT_HELLO_MAX_BYTES, readClientHello } from '../../proxy/read-client-hello.js'

/** Captures the exact bytes Node's TLS client sends first, through a raw socket that never answers. */
async function captureClientHello(t: Test, options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer()
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  const captured = new Promise<Buffer>((resolve, reject) => {
    server.once('connection', (socket) => {
      let bytes = Buffer.alloc(0)
      socket.on('data', (chunk) => {
        bytes = Buffer.concat([bytes, chunk])
        // The record header says how long the first record is; Node sends the whole ClientHello in one.
        if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
          socket.destroy()
          resolve(bytes)
        }
      })
      socket.on('error', reject)
    })
  })
  const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options })
  client.on('error', () => undefined) // the raw server hangs up mid-handshake on purpose
  t.teardown(() => client.destroy())
  return captured
}

/** Takes the handshake message out of a one-record capture and re-frames it into records of `size` bytes. */
function reframe(capture: Buffer, size: number): Buffer {
  const message = capture.subarray(5, 5 + capture.readUInt16BE(3))
  const records: Buffer[] = []
  for (let i = 0; i < message.length; i += size) {
    const fragment = message.subarray(i, i + size)
    records.push(Buffer.from([22, 3, 1, fragment.length >> 8, fragment.length & 0xff]), fragment)
  }
  return Buffer.concat(records)
}

t.test('reads SNI and ALPN from a real Node ClientHello', async (t) => {
  const hello = await captureClientHello(t, { servername: 'Example.COM', ALPNProtocols: ['h2', 'http/1.1'] })
  t.same(readClientHello(hello), { kind: 'hello', sni: 'Example.COM', alpn: ['h2', 'http/1.1'] }, 'SNI as sent, not normalised')
})

t.test('a ClientHello to an IP literal carries neither SNI nor ALPN', async (t) => {
  const hello = await captureClientHello(t, {})
  const result = readClientHello(hello)
  t.same(result, { kind: 'hello', alpn: [] })
  t.notOk('sni' in result, 'no sni key at all')
})

t.test('split at every byte boundary: need-more until the last byte, then hello', async (t) => {
  const hello = await captureClientHello(t, { servername: 'registry.npmjs.org', ALPNProtocols: ['http/1.1'] })
  const expected = { kind: 'hello', sni: 'registry.npmjs.org', alpn: ['http/1.1'] }
  const early = []
  for (let i = 0; i < hello.length; i++) {
    const kind = readClientHello(hello.subarray(0, i)).kind
    if (kind !== 'need-more') early.push({ i, kind })
  }
  t.same(early, [], `every one of the ${hello.length} proper prefixes is need-more`)
  t.same(readClientHello(hello), expected)
  t.same(readClientHello(Buffer.concat([hello, Buffer.from('trailing early data')])), expected, 'bytes after the hello are ignored')
})

t.test('a ClientHello split across TLS records reassembles, at every record size and prefix', async (t) => {
  const hello = await captureClientHello(t, { servername: 'api.github.com', ALPNProtocols: ['h2'] })
  const expected = { kind: 'hello', sni: 'api.github.com', alpn: ['h2'] }
  for (const size of [1, 2, 3, 4, 5, 7, 64, 255, 1000]) {
    t.same(readClientHello(reframe(hello, size)), expected, `records of ${size} bytes`)
  }
  const tiny = reframe(hello, 1)
  const early = []
  for (let i = 0; i < tiny.length; i++) if (readClientHello(tiny.subarray(0, i)).kind !== 'need-more') early.push(i)
  t.same(early, [], `all ${tiny.length} prefixes of the one-byte-record form are need-more`)
})

t.test('not TLS: decided from the first bytes', async (t) => {
  const rows: [string, Buffer, string][] = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'), 'H is not a handshake record'],
    ['one byte of HTTP', Buffer.from('G'), 'the first byte is enough'],
    ['SSH banner', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), 'another protocol'],
    ['SSLv2-compatible hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), 'SSLv2 framing is not TLS'],
    ['handshake type byte, wrong version', Buffer.from([22, 2, 0]), 'record version must be 3.x'],
  ]
  for (const [name, bytes, why] of rows) t.same(readClientHello(bytes), { kind: 'not-tls' }, `${name}: ${why}`)
  t.same(readClientHello(Buffer.alloc(0)), { kind: 'need-more' }, 'nothing yet')
  t.same(readClientHello(Buffer.from([22])), { kind: 'need-more' }, 'one handshake byte could still be TLS')
})

// A hand-built ClientHello, so each malformed row changes exactly one thing.
interface HelloParts {
  recordType?: number
  handshakeType?: number
  sessionId?: Buffer
  suites?: Buffer
  compression?: Buffer
  extensions?: Buffer[] | null
  extensionsLength?: number
  after?: Buffer
  lengthDelta?: number
}

function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 0xff])
}

function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data])
}

function sniExt(...names: [number, string | Buffer][]): Buffer {
  const entries = names.map(([type, name]) => Buffer.concat([Buffer.from([type]), u16(Buffer.from(name).length), Buffer.from(name)]))
  const list = Buffer.concat(entries)
  return ext(0, Buffer.concat([u16(list.length), list]))
}

function alpnExt(...protocols: string[]): Buffer {
  const list = Buffer.concat(protocols.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])))
  return ext(16, Buffer.concat([u16(list.length), list]))
}

function build(p: HelloParts = {}): Buffer {
  const sessionId = p.sessionId ?? Buffer.alloc(32, 7)
  const suites = p.suites ?? Buffer.from([0x13, 0x01, 0x13, 0x02])
  const compression = p.compression ?? Buffer.from([0])
  const extensions = p.extensions === null ? null : Buffer.concat(p.extensions ?? [sniExt([0, 'example.com']), alpnExt('h2')])
  const body = Buffer.concat([
    Buffer.from([3, 3]), Buffer.alloc(32, 1),
    Buffer.from([sessionId.length]), sessionId,
    u16(suites.length), suites,
    Buffer.from([compression.length]), compression,
    extensions ? Buffer.concat([u16(p.extensionsLength ?? extensions.length), extensions]) : Buffer.alloc(0),
    p.after ?? Buffer.alloc(0),
  ])
  const length = body.length + (p.lengthDelta ?? 0)
  const message = Buffer.concat([Buffer.from([p.handshakeType ?? 1, length >> 16, (length >> 8) & 0xff, length & 0xff]), body])
  return Buffer.concat([Buffer.from([p.recordType ?? 22, 3, 1]), u16(message.length), message])
}

t.test('the hand-built ClientHello parses, so the rows below each break one thing', async (t) => {
  t.same(readClientHello(build()), { kind: 'hello', sni: 'example.com', alpn: ['h2'] })
  t.same(readClientHello(build({ extensions: null })), { kind: 'hello', alpn: [] }, 'no extensions block at all is legal')
  t.same(readClientHello(build({ extensions: [sniExt([1, 'ignored'], [0, 'a.example'])] })), { kind: 'hello', sni: 'a.example', alpn: [] }, 'unknown name types are skipped')
  t.same(readClientHello(build({ extensions: [ext(0xfe0d, Buffer.from([1, 2, 3]))] })), { kind: 'hello', alpn: [] }, 'unknown extensions are skipped')
})

t.test('malformed: every lie in a length or a rule is caught and named', async (t) => {
  const nul = Buffer.from('evil.com\0.good.com')
  const rows: [string, Buffer, RegExp][] = [
    ['a ServerHello', build({ handshakeType: 2 }), /not ClientHello/],
    ['handshake length longer than the message', build({ lengthDelta: 20_000 }), /exceeds 16384/],
    ['handshake length shorter than the fields', build({ lengthDelta: -10 }), /runs past|stray/],
    ['extensions length overruns', build({ extensionsLength: 400 }), /extensions runs past/],
    ['extensions length underruns', build({ extensionsLength: 3 }), /stray bytes after ClientHello|runs past/],
    ['bytes after the extensions', build({ after: Buffer.from([0]) }), /stray bytes after ClientHello/],
    ['extension data overruns', build({ extensions: [Buffer.from([0, 16, 0, 50, 0, 3, 2, 104, 50])] }), /extension 16 runs past/],
    ['two server_name extensions', build({ extensions: [sniExt([0, 'a.com']), sniExt([0, 'b.com'])] }), /extension 0 appears twice/],
    ['two host names in one server_name', build({ extensions: [sniExt([0, 'a.com'], [0, 'b.com'])] }), /two host names/],
    ['NUL inside the host name', build({ extensions: [sniExt([0, nul])] }), /not a host name/],
    ['empty host name', build({ extensions: [sniExt([0, ''])] }), /not a host name/],
    ['empty server_name extension', build({ extensions: [ext(0, Buffer.alloc(0))] }), /server_name_list runs past/],
    ['empty server_name_list', build({ extensions: [ext(0, u16(0))] }), /empty server_name_list/],
    ['empty ALPN list', build({ extensions: [ext(16, u16(0))] }), /empty ALPN list/],
    ['empty ALPN protocol', build({ extensions: [alpnExt('h2', '')] }), /empty ALPN protocol/],
    ['session id of 33 bytes', build({ sessionId: Buffer.alloc(33) }), /session id longer/],
    ['odd cipher_suites', build({ suites: Buffer.from([0x13]) }), /cipher_suites of 1/],
    ['no cipher suites', build({ suites: Buffer.alloc(0) }), /cipher_suites of 0/],
    ['no compression methods', build({ compression: Buffer.alloc(0) }), /no compression/],
    ['an empty record', Buffer.from([22, 3, 1, 0, 0]), /empty handshake record/],
    ['a record over 2^14', Buffer.from([22, 3, 1, 0x40, 0x01]), /exceeds 2\^14/],
    ['an alert record in the middle', Buffer.concat([build().subarray(0, 20).fill(0, 3, 5).fill(15, 4, 5), Buffer.from([21, 3, 3, 0, 2, 2, 40])]), /content type 21/],
  ]
  for (const [name, bytes, problem] of rows) {
    const result = readClientHello(bytes)
    t.equal(result.kind, 'malformed', name)
    if (result.kind === 'malformed') t.match(result.problem, problem, `${name}: ${result.problem}`)
  }
})

t.test(`a hello spread over more than ${CLIENT_HELLO_MAX_BYTES} bytes of records is malformed, not need-more forever`, async (t) => {
  const big = build({ extensions: [sniExt([0, 'example.com']), ext(21, Buffer.alloc(3000))] })
  t.same(readClientHello(big), { kind: 'hello', sni: 'example.com', alpn: [] }, 'a 3 KiB hello in one record is fine')
  const framed = reframe(big, 1) // ~6 bytes of input per byte of hello
  t.match(readClientHello(framed), { kind: 'malformed', problem: /spans more than 16384/ })
  t.match(readClientHello(framed.subarray(0, CLIENT_HELLO_MAX_BYTES + 20)), { kind: 'malformed' }, 'decided before the rest arrives')
  t.match(readClientHello(reframe(build({ extensions: [ext(21, Buffer.alloc(17_000))] }), 1000).subarray(0, 9)), { kind: 'malformed', problem: /exceeds 16384/ }, 'a declared oversize is refused from the header alone')
})

// mulberry32: a seeded PRNG so a failing fuzz case can be replayed from its index.
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

t.test('fuzz: random and mutated inputs never throw', async (t) => {
  const real = await captureClientHello(t, { servername: 'fuzz.example', ALPNProtocols: ['h2', 'http/1.1'] })
  const seeds = [real, reframe(real, 7), build()]
  const random = prng(0x5eed)
  const int = (n: number) => Math.floor(random() * n)
  const kinds: Record<string, number> = {}
  for (let i = 0; i < 6000; i++) {
    const input = i % 3 === 0 ? randomBytes(int, int(700), i % 2 === 0) : mutate(int, seeds[i % seeds.length] as Buffer)
    let kind: string
    try {
      kind = readClientHello(input).kind
    } catch (err) {
      t.fail(`input ${i} (${input.toString('hex')}) threw ${String(err)}`)
      return
    }
    kinds[kind] = (kinds[kind] ?? 0) + 1
  }
  t.comment(`fuzz outcomes: ${JSON.stringify(kinds)}`)
  t.ok((kinds.malformed ?? 0) > 0 && (kinds.hello ?? 0) > 0 && (kinds['not-tls'] ?? 0) > 0, 'the fuzz reached every outcome')
})

function randomBytes(int: (n: number) => number, length: number, tlsLike: boolean): Buffer {
  const bytes = Buffer.from(Array.from({ length }, () => int(256)))
  if (tlsLike && length >= 6) bytes.set([22, 3, int(5), int(256), int(256), 1])
  return bytes
}

function mutate(int: (n: number) => number, seed: Buffer): Buffer {
  const bytes = Buffer.from(seed)
  for (let n = 1 + int(4); n > 0; n--) bytes[int(bytes.length)] = int(256)
  return int(4) === 0 ? bytes.subarray(0, int(bytes.length)) : bytes
}
