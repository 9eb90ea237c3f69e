/** The target parser is the first gate: each row says what a client wrote and why we read it so (or refuse it). */
import t from 'tap'
import { BadTargetError } from '../../proxy/errors.js'
import { formatAuthority, parseConnectTarget, parseHttpTarget, parsePort } from '../../proxy/parse-target.js'
import type { Destination } from '../../policy/types.js'

type Good = readonly [target: string, expected: Destination, why: string]
type Bad = readonly [target: string, message: RegExp, why: string]

const CONNECT_GOOD: readonly Good[] = [
  ['origin.test:443', { host: 'origin.test', port: 443, kind: 'name' }, 'authority-form host:port'],
  ['origin.test:1', { host: 'origin.test', port: 1, kind: 'name' }, 'the lowest port'],
  ['origin.test:65535', { host: 'origin.test', port: 65535, kind: 'name' }, 'the highest port'],
  ['[::1]:443', { host: '::1', port: 443, kind: 6 }, 'a bracketed IPv6 literal'],
  ['[2001:DB8:0:0::1]:443', { host: '2001:db8::1', port: 443, kind: 6 }, 'IPv6 is written back in RFC 5952 form'],
  ['[::ffff:127.0.0.1]:443', { host: '::ffff:127.0.0.1', port: 443, kind: 6 }, 'an IPv4-mapped address keeps its dotted quad in records'],
  ['127.0.0.1:80', { host: '127.0.0.1', port: 80, kind: 4 }, 'a dotted quad'],
  ['127.1:443', { host: '127.0.0.1', port: 443, kind: 4 }, 'short form is canonicalised, not treated as a name'],
  ['2130706433:80', { host: '127.0.0.1', port: 80, kind: 4 }, 'a single decimal number is an IPv4 address'],
  ['0x7f.1:80', { host: '127.0.0.1', port: 80, kind: 4 }, 'hex short form is the loopback address it means'],
  ['0177.0.0.1:80', { host: '127.0.0.1', port: 80, kind: 4 }, 'an octal octet is the address it means'],
  ['bücher.de:443', { host: 'xn--bcher-kva.de', port: 443, kind: 'name' }, 'IDN becomes Punycode, as the policy stores it'],
  ['GitHub.COM.:443', { host: 'github.com', port: 443, kind: 'name' }, 'upper case and the trailing dot are normalised away'],
  ['_dmarc.origin.test:443', { host: '_dmarc.origin.test', port: 443, kind: 'name' }, 'underscore labels exist in the wild'],
]

const CONNECT_BAD: readonly Bad[] = [
  ['origin.test', /no port/, 'CONNECT needs a port (RFC 9110 §9.3.6)'],
  ['origin.test:0', /invalid port/, 'port 0 is not a destination'],
  ['origin.test:65536', /invalid port/, 'past the 16-bit range'],
  ['origin.test:99999', /invalid port/, 'five digits but out of range'],
  ['origin.test:+443', /invalid port/, 'a sign is not plain decimal'],
  ['origin.test:-443', /invalid port/, 'a negative port'],
  ['origin.test:0443', /invalid port/, 'a leading zero could be read as octal by another parser'],
  ['origin.test:00443', /invalid port/, 'several leading zeros'],
  ['origin.test: 443', /invalid port/, 'a space before the port'],
  ['origin.test:443 ', /invalid port/, 'a space after the port'],
  ['origin.test:4 43', /invalid port/, 'a space inside the port'],
  ['origin.test:0x1bb', /invalid port/, 'a hex port'],
  ['origin.test:443.0', /invalid port/, 'a fractional port'],
  ['origin.test:1e3', /invalid port/, 'exponent notation that Number() would accept'],
  ['origin.test:', /invalid port/, 'an empty port'],
  ['origin.test:https', /invalid port/, 'a service name is not a port'],
  [':443', /invalid host .*empty/, 'no host'],
  ['', /no port/, 'nothing at all'],
  ['[::1]', /no port/, 'a bracketed IPv6 literal still needs a port'],
  ['[::1:443', /no port|invalid/, 'an unclosed bracket'],
  ['[::1]443', /invalid port|port/, 'the colon between ] and the port is missing'],
  ['[::1]x:443', /invalid port|port/, 'junk between ] and the port'],
  ['::1:443', /IPv6|bracket|invalid host/, 'an unbracketed IPv6 address is ambiguous: ::1 port 443, or the address ::1:443?'],
  ['2001:db8::1:443', /IPv6|bracket|invalid host/, 'another unbracketed IPv6 literal: the last group is not a port'],
  ['[127.0.0.1]:443', /IPv6/, 'brackets hold only IPv6'],
  ['[origin.test]:443', /IPv6/, 'brackets hold only IPv6'],
  ['[fe80::1%25eth0]:443', /%/, 'IPv6 zone ids are refused'],
  ['u@origin.test:443', /@/, 'userinfo is not part of a CONNECT target'],
  ['u:p@origin.test:443', /@/, 'userinfo with a password'],
  ['origin.test@evil.test:443', /@/, 'the classic parser-differential shape'],
  ['origin%2etest:443', /%/, 'percent-encoding in a host'],
  ['origin.test%00.evil.test:443', /%/, 'an encoded NUL'],
  ['origin\\.test:443', /\\/, 'a backslash (WHATWG turns it into a slash)'],
  ['origin.test/x:443', /'\/'/, 'a path in the authority'],
  ['origin.test#x:443', /'#'/, 'a fragment in the authority'],
  ['origin .test:443', /whitespace/, 'a space inside the name'],
  ['origin.test\t:443', /whitespace|control/, 'a tab'],
  ['\u00a0origin.test:443', /whitespace|control/, 'a no-break space, which trim() would eat'],
  ['origin.test\u0000:443', /control/, 'a NUL'],
  ['origin.test\r\nx:443', /control|whitespace/, 'CR LF'],
  ['origin\u007f.test:443', /control/, 'DEL'],
  ['ori[gin].test:443', /bracket/, 'brackets inside a name'],
  ['origin.test]:443', /bracket/, 'a stray closing bracket'],
  ['origin..test:443', /empty label/, 'an empty label'],
  ['.origin.test:443', /empty label/, 'a leading dot'],
  ['origin.test..:443', /empty label/, 'two trailing dots'],
  ['origin.test:443:443', /invalid host|IPv6/, 'two ports'],
  ['ori*gin.test:443', /character not allowed|not a valid/, 'a glob character in a name'],
  ['256.0.0.1:443', /not a valid/, 'an IPv4 octet out of range'],
  [`${'a'.repeat(64)}.test:443`, /label longer/, 'a label over 63 characters'],
]

t.test('CONNECT targets that are accepted, and what they normalise to', async (t) => {
  for (const [target, expected, why] of CONNECT_GOOD) t.same(parseConnectTarget(target), expected, `${JSON.stringify(target)}: ${why}`)
})

t.test('CONNECT targets that are refused as bad-request, with a message that says why', async (t) => {
  for (const [target, message, why] of CONNECT_BAD) {
    t.throws(() => parseConnectTarget(target), { name: 'GuardedError', code: 'GUARDED_BAD_TARGET', reason: 'bad-request', message }, `${JSON.stringify(target)}: ${why}`)
  }
})

t.test('parsePort reads only plain decimal 1-65535', async (t) => {
  const rows: readonly (readonly [string, number | undefined])[] = [
    ['1', 1], ['80', 80], ['65535', 65535], ['0', undefined], ['65536', undefined], ['080', undefined],
    ['+80', undefined], ['80 ', undefined], ['', undefined], ['٨٠', undefined], ['８０', undefined],
  ]
  for (const [text, port] of rows) t.equal(parsePort(text), port, JSON.stringify(text))
})

const host = (value: string): string[] => ['Host', value]

type HttpGood = readonly [url: string, headers: string[], destination: Destination, path: string, why: string]
type HttpBad = readonly [url: string, headers: string[], reason: 'bad-request' | 'not-a-proxy-request', message: RegExp, why: string]

const HTTP_GOOD: readonly HttpGood[] = [
  ['http://origin.test/a?b=1', host('origin.test'), { host: 'origin.test', port: 80, kind: 'name' }, '/a?b=1', 'the port defaults to 80'],
  ['http://origin.test:8080/', host('origin.test:8080'), { host: 'origin.test', port: 8080, kind: 'name' }, '/', 'an explicit port in both'],
  ['http://origin.test/', host('origin.test:80'), { host: 'origin.test', port: 80, kind: 'name' }, '/', 'Host with the default port names the same authority'],
  ['http://origin.test:80/', host('origin.test'), { host: 'origin.test', port: 80, kind: 'name' }, '/', 'URI with the default port, Host without'],
  ['http://origin.test/', host('ORIGIN.test.'), { host: 'origin.test', port: 80, kind: 'name' }, '/', 'Host is compared after normalisation'],
  ['HTTP://Origin.TEST/', host('origin.test'), { host: 'origin.test', port: 80, kind: 'name' }, '/', 'the scheme and host are case-insensitive'],
  ['http://origin.test', host('origin.test'), { host: 'origin.test', port: 80, kind: 'name' }, '/', 'an empty path becomes /'],
  ['http://origin.test?q', host('origin.test'), { host: 'origin.test', port: 80, kind: 'name' }, '/?q', 'a query with no path gets a leading /'],
  ['http://origin.test:/', host('origin.test'), { host: 'origin.test', port: 80, kind: 'name' }, '/', 'an empty port is the default (RFC 3986 §3.2.3)'],
  ['http://origin.test/x', [], { host: 'origin.test', port: 80, kind: 'name' }, '/x', 'HTTP/1.0 clients may send no Host'],
  ['http://bücher.de/', host('xn--bcher-kva.de'), { host: 'xn--bcher-kva.de', port: 80, kind: 'name' }, '/', 'IDN in the URI, Punycode in Host'],
  ['http://127.1/', host('127.0.0.1'), { host: '127.0.0.1', port: 80, kind: 4 }, '/', 'IPv4 short form is canonicalised'],
  ['http://[::1]:8080/', host('[::1]:8080'), { host: '::1', port: 8080, kind: 6 }, '/', 'a bracketed IPv6 literal'],
]

const HTTP_BAD: readonly HttpBad[] = [
  ['/path', host('origin.test'), 'not-a-proxy-request', /absolute form/, 'origin-form: the client talks to the proxy as if it were the origin'],
  ['*', [], 'not-a-proxy-request', /absolute form/, 'asterisk-form (OPTIONS *)'],
  ['https://origin.test/', host('origin.test'), 'bad-request', /use CONNECT for https/, 'https absolute form would ask the proxy to originate TLS'],
  ['ftp://origin.test/', host('origin.test'), 'bad-request', /only http:\/\//, 'other schemes are not forwarded'],
  ['origin.test:80', host('origin.test'), 'bad-request', /unsupported request target/, 'authority-form outside CONNECT'],
  ['http://origin.test/', host('other.test'), 'bad-request', /does not name/, 'Host names another host: virtual-host confusion'],
  ['http://origin.test/', host('origin.test:8080'), 'bad-request', /does not name/, 'Host names another port'],
  ['http://origin.test:8080/', host('origin.test'), 'bad-request', /does not name/, 'URI names another port than Host (80)'],
  ['http://origin.test/', [...host('origin.test'), ...host('origin.test')], 'bad-request', /more than one Host/, 'duplicate Host, even when equal'],
  ['http://origin.test/', [...host('origin.test'), 'host', 'evil.test'], 'bad-request', /more than one Host/, 'duplicate Host in another case'],
  ['http://origin.test/', host(''), 'bad-request', /empty/, 'an empty Host with an authority in the URI'],
  ['http://origin.test/', host('u@origin.test'), 'bad-request', /@/, 'userinfo in Host'],
  ['http://origin.test/', host('origin.test:0080'), 'bad-request', /invalid port/, 'a leading-zero port in Host'],
  ['http://u@origin.test/', host('origin.test'), 'bad-request', /userinfo/, 'userinfo in the URI'],
  ['http://evil.test\\@origin.test/', host('origin.test'), 'bad-request', /userinfo|\\/, 'backslash-at: WHATWG and RFC 3986 disagree on the host'],
  ['http://origin.test:0/', host('origin.test:0'), 'bad-request', /invalid port/, 'port 0'],
  ['http://origin.test:65536/', [], 'bad-request', /invalid port/, 'port out of range'],
  ['http://origin.test:+80/', [], 'bad-request', /invalid port/, 'a signed port'],
  ['http://origin%2etest/', [], 'bad-request', /%/, 'percent-encoding in the host'],
  ['http:///path', [], 'bad-request', /empty/, 'no host at all'],
  ['http://origin.test/#frag', host('origin.test'), 'bad-request', /unsupported request target/, 'a fragment is never sent on the wire'],
  ['http://[::1]/', host('::1'), 'bad-request', /IPv6|bracket|invalid host/, 'an unbracketed IPv6 Host'],
]

t.test('absolute-form targets that are accepted, with the path sent to the origin', async (t) => {
  for (const [url, headers, destination, path, why] of HTTP_GOOD) {
    t.same(parseHttpTarget(url, headers), { destination, path }, `${url} ${JSON.stringify(headers)}: ${why}`)
  }
})

t.test('absolute-form targets that are refused, each with its reason', async (t) => {
  for (const [url, headers, reason, message, why] of HTTP_BAD) {
    t.throws(() => parseHttpTarget(url, headers), { code: 'GUARDED_BAD_TARGET', reason, message }, `${url} ${JSON.stringify(headers)}: ${why}`)
  }
})

t.test('every refusal is a BadTargetError (the handlers map it to a 400)', async (t) => {
  for (const [target] of CONNECT_BAD) {
    try {
      parseConnectTarget(target)
    } catch (err) {
      if (!(err instanceof BadTargetError)) t.fail(`${JSON.stringify(target)} threw ${String(err)}`)
    }
  }
  t.pass('all CONNECT refusals are BadTargetError')
})

t.test('formatAuthority writes a destination back as the Host the origin sees', async (t) => {
  t.equal(formatAuthority({ host: 'origin.test', port: 80, kind: 'name' }, 80), 'origin.test', 'the default port is omitted')
  t.equal(formatAuthority({ host: 'origin.test', port: 8080, kind: 'name' }, 80), 'origin.test:8080')
  t.equal(formatAuthority({ host: '::1', port: 80, kind: 6 }, 80), '[::1]', 'IPv6 is bracketed')
  t.equal(formatAuthority({ host: '::1', port: 8080, kind: 6 }, 80), '[::1]:8080')
})
