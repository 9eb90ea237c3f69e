/**
 * The CONNECT head reader takes only the canonical form and leaves everything else to Node's parser:
 * each row says what it must give, or why the bytes must go to Node instead.
 */
import t from 'tap'
import { readConnectHead } from '../../proxy/read-connect-head.js'

const MAX = 16 * 1024
const read = (text: string, max = MAX): ReturnType<typeof readConnectHead> => readConnectHead(Buffer.from(text, 'latin1'), max)

t.test('the canonical form is read: target, headers lower-cased and trimmed, and the bytes after the head', async (t) => {
  const head = read('CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\nProxy-Authorization:   Basic czE6dG9rZW4=  \r\nUser-Agent: curl/8.5.0\r\n\r\n\x16\x03\x01hello')
  t.equal(head?.url, 'github.com:443')
  t.same({ ...head?.headers }, { host: 'github.com:443', 'proxy-authorization': 'Basic czE6dG9rZW4=', 'user-agent': 'curl/8.5.0' })
  t.equal(head?.rest.toString('latin1'), '\x16\x03\x01hello', 'bytes after the head are the tunnel\'s first bytes')
  t.equal(read('CONNECT [2001:db8::1]:443 HTTP/1.0\r\n\r\n')?.url, '[2001:db8::1]:443', 'HTTP/1.0, a bracketed IPv6 target and no headers')
  t.equal(read('CONNECT a.test:443 HTTP/1.1\r\nHost: a\r\n\r\n')?.rest.length, 0, 'nothing after the head')
})

t.test('header names that are Object keys are plain headers, and pollute nothing', async (t) => {
  const head = read('CONNECT a.test:443 HTTP/1.1\r\nconstructor: y\r\ntoString: z\r\n\r\n')
  t.equal(head?.headers.constructor, 'y')
  t.equal(head?.headers.tostring, 'z')
  t.equal(read('CONNECT a.test:443 HTTP/1.1\r\n__proto__: x\r\n\r\n'), undefined, '__proto__ goes to Node\'s parser, which keeps it as a header')
  t.equal(({} as Record<string, unknown>).x, undefined, 'Object.prototype is untouched')
})

const TO_NODE: [string, string, number?][] = [
  ['GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n', 'not a CONNECT'],
  ['connect a.test:443 HTTP/1.1\r\n\r\n', 'a method in the wrong case: Node decides whether that is an error'],
  ['CONNECT a.test:443 HTTP/1.1\r\nHost: a.te', 'the head is not complete in this read'],
  ['CONNECT a.test:443 HTTP/1.1\nHost: a.test\n\n', 'bare LF line ends'],
  ['CONNECT a.test:443 HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', 'a header given twice'],
  ['CONNECT a.test:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello', 'a body header'],
  ['CONNECT a.test:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n', 'a body header'],
  ['CONNECT a.test:443 HTTP/1.1\r\nUpgrade: h2c\r\n\r\n', 'a protocol change'],
  ['CONNECT a.test:443 HTTP/1.1\r\nExpect: 100-continue\r\n\r\n', 'an expectation'],
  ['CONNECT a.test:443 HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n', 'an obs-fold continuation line'],
  ['CONNECT a.test:443 HTTP/1.1\r\nHost : a\r\n\r\n', 'space before the colon'],
  ['CONNECT a.test:443 HTTP/1.1\r\nX-A: b\x01c\r\n\r\n', 'a control character in a value'],
  ['CONNECT a.test:443 HTTP/1.1\r\nX-A: caf\xe9\r\n\r\n', 'obs-text in a value'],
  ['CONNECT a.test:443 HTTP/1.1\r\n: empty name\r\n\r\n', 'an empty header name'],
  ['CONNECT a.test:443 HTTP/1.1\r\nno colon here\r\n\r\n', 'a line without a colon'],
  ['CONNECT a.test:443 HTTP/1.1\r\nno colon here\r\nHost: a.test\r\n\r\n', 'a line without a colon before one with'],
  ['CONNECT user@a.test:443 HTTP/1.1\r\n\r\n', 'userinfo in the target'],
  ['CONNECT a%2etest:443 HTTP/1.1\r\n\r\n', 'percent-encoding in the target'],
  ['CONNECT  a.test:443 HTTP/1.1\r\n\r\n', 'two spaces after the method'],
  ['CONNECT a.test:443 HTTP/2.0\r\n\r\n', 'a version other than 1.0 and 1.1'],
  ['CONNECT a.test:443\r\n\r\n', 'no version'],
  ['CONNECT a.test:443 HTTP/1.1 \r\n\r\n', 'trailing space on the request line'],
  [`CONNECT a.test:443 HTTP/1.1\r\n${Array.from({ length: 33 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`, 'more than 32 header lines'],
  [`CONNECT a.test:443 HTTP/1.1\r\nX-Big: ${'a'.repeat(200)}\r\n\r\n`, 'a head over the size limit', 128],
  ['CONNECT', 'shorter than the method'],
]

t.test('the size limit counts the whole head, its blank line included', async (t) => {
  const head = 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n'
  t.equal(read(head, head.length)?.url, 'a.test:443', 'a head exactly at the limit is read')
  for (let over = 1; over <= 3; over++) t.equal(read(head, head.length - over), undefined, `${over} byte(s) of the blank line past the limit: Node's parser answers`)
  t.same(read(head + 'hello', head.length)?.rest, Buffer.from('hello'), 'bytes after a head at the limit still come through')
})

t.test('anything but the canonical form goes to Node\'s parser untouched', async (t) => {
  for (const [text, why, max] of TO_NODE) t.equal(read(text, max ?? MAX), undefined, why)
})

/**
 * Differential check of the claim above: for heads made by mutating a canonical one (seeded, so a failure
 * repeats), whenever the reader takes a head, Node's parser, fed the same bytes, must see a CONNECT with
 * the same target, the same headers and the same bytes after the head.
 */
t.test('every head the reader takes, Node\'s parser reads the same way', async (t) => {
  const { createServer } = await import('node:http')
  const { connect } = await import('node:net')
  const seen: { url?: string; headers?: Record<string, unknown>; rest?: Buffer; error?: string }[] = []
  const server = createServer({ maxHeaderSize: MAX })
  server.on('connect', (req, socket, rest: Buffer) => {
    seen.push({ url: req.url, headers: { ...req.headers }, rest: Buffer.from(rest) })
    socket.destroy()
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    seen.push({ error: err.code ?? err.message })
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  /** What Node's parser makes of `bytes`, sent in one write. */
  const nodeReads = (bytes: Buffer): Promise<(typeof seen)[number] | undefined> =>
    new Promise((resolve) => {
      const before = seen.length
      const socket = connect(port, '127.0.0.1', () => socket.end(bytes))
      socket.on('error', () => {})
      socket.resume()
      socket.once('close', () => setTimeout(() => resolve(seen[before]), 5))
    })

  let state = 0x2545f491 // xorshift32, seeded: the same cases on every run
  const random = (n: number): number => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) % n
  }
  const base = 'CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\nProxy-Authorization: Basic czE6dG9r\r\nUser-Agent: agent/1.0\r\n\r\n'
  const pieces = ['\t', ' ', '  ', ':', '\r', '\n', '\r\n', '\x00', '\x7f', '\x80', '\xff', '@', '%', '[', ']', 'host: x\r\n', 'Host: y\r\n', 'Content-Length: 0\r\n', 'X-A: b\r\n', ' folded\r\n', 'HTTP/1.0', 'connect', 'a', '\u00e9']
  let taken = 0
  for (let i = 0; i < 400; i++) {
    let text = base
    for (let edits = 1 + random(3); edits > 0; edits--) {
      const at = random(text.length + 1)
      const kind = random(3)
      if (kind === 0) text = text.slice(0, at) + pieces[random(pieces.length)] + text.slice(at) // insert
      else if (kind === 1) text = text.slice(0, at) + text.slice(at + 1 + random(3)) // delete
      else text = text.slice(0, at) + pieces[random(pieces.length)] + text.slice(at + 1) // replace
    }
    const bytes = Buffer.from(text + (random(2) ? 'tunnel bytes' : ''), 'latin1')
    const ours = readConnectHead(bytes, MAX)
    if (!ours) continue
    taken++
    const node = await nodeReads(bytes)
    const same = node?.url === ours.url && node.rest?.equals(ours.rest) && JSON.stringify(node.headers) === JSON.stringify({ ...ours.headers })
    if (!same) t.fail(`case ${i}: ${JSON.stringify(text)}: ours ${JSON.stringify({ url: ours.url, headers: ours.headers })}, Node's ${JSON.stringify(node)}`)
  }
  t.ok(taken >= 40, `the reader took ${taken} of 400 mutated heads, and Node read each of them the same way`)
})
