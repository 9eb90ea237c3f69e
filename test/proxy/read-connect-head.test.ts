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

t.test('anything but the canonical form goes to Node\'s parser untouched', async (t) => {
  for (const [text, why, max] of TO_NODE) t.equal(read(text, max ?? MAX), undefined, why)
})
