import t from 'tap'
import { normalizeHost } from '../../policy/normalize-host.js'

type Row = readonly [input: string, host: string, kind: 'name' | 4 | 6, why: string]

const accepted: readonly Row[] = [
  ['GitHub.COM', 'github.com', 'name', 'names are case-insensitive, so one spelling is matched and logged'],
  ['github.com.', 'github.com', 'name', 'one trailing dot (the DNS root) is dropped'],
  ['bücher.de', 'xn--bcher-kva.de', 'name', 'Unicode becomes its Punycode A-label'],
  ['BÜCHER.de', 'xn--bcher-kva.de', 'name', 'Unicode upper case maps before Punycode'],
  ['xn--bcher-kva.de', 'xn--bcher-kva.de', 'name', 'an A-label is kept as written'],
  ['bücher.de.', 'xn--bcher-kva.de', 'name', 'IDN and trailing dot together'],
  ['_dmarc.example.com', '_dmarc.example.com', 'name', 'underscore labels exist in real DNS'],
  ['a'.repeat(63) + '.com', 'a'.repeat(63) + '.com', 'name', 'a 63-character label is the maximum, not over it'],
  [Array(4).fill('a'.repeat(62)).join('.') + '.x', Array(4).fill('a'.repeat(62)).join('.') + '.x', 'name', 'a 253-character name is the maximum'],
  ['127.0.0.1', '127.0.0.1', 4, 'dotted decimal is already canonical'],
  ['2130706433', '127.0.0.1', 4, 'a single decimal number is an IPv4 address to inet_aton and browsers'],
  ['0177.0.0.1', '127.0.0.1', 4, 'a leading zero makes an octet octal'],
  ['0x7f.1', '127.0.0.1', 4, 'hex first part, short form: the last part fills the remaining bytes'],
  ['0x7F000001', '127.0.0.1', 4, 'a single hex number'],
  ['127.1', '127.0.0.1', 4, 'two-part short form'],
  ['10.1.2', '10.1.0.2', 4, 'three-part short form: the last part fills two bytes'],
  ['127.0.0.1.', '127.0.0.1', 4, 'a trailing dot on an IPv4 literal is dropped too'],
  ['[::1]', '::1', 6, 'brackets around an IPv6 literal are unwrapped'],
  ['::1', '::1', 6, 'a bare IPv6 literal is accepted'],
  ['[0:0:0:0:0:0:0:1]', '::1', 6, 'expanded IPv6 is compressed (RFC 5952)'],
  ['[2001:DB8:0:0:1:0:0:1]', '2001:db8::1:0:0:1', 6, 'lower case, and the first longest zero run is compressed (RFC 5952 §4.2.3)'],
  ['[2001:db8:0:1:1:1:1:1]', '2001:db8:0:1:1:1:1:1', 6, 'a single zero group is not compressed (RFC 5952 §4.2.2)'],
  ['[::ffff:127.0.0.1]', '::ffff:127.0.0.1', 6, 'IPv4-mapped stays IPv6 and keeps its dotted quad'],
  ['[::ffff:7f00:1]', '::ffff:127.0.0.1', 6, 'IPv4-mapped in hex is the same address'],
  ['[0:0:0:0:0:ffff:7f00:0001]', '::ffff:127.0.0.1', 6, 'IPv4-mapped fully expanded is the same address'],
  ['[::127.0.0.1]', '::7f00:1', 6, 'IPv4-compatible is a different address from IPv4-mapped and must not become one'],
  ['[64:ff9b::10.0.0.1]', '64:ff9b::a00:1', 6, 'a dotted tail elsewhere is written in hex'],
]

const refused: readonly (readonly [input: string, problem: RegExp, why: string])[] = [
  ['', /empty/, 'nothing to connect to'],
  ['.', /empty/, 'only the root'],
  ['a..b', /empty label/, 'an empty label is not a name'],
  ['.example.com', /empty label/, 'a leading dot leaves an empty label'],
  ['example.com..', /empty label/, 'only one trailing dot is dropped'],
  ['a'.repeat(64) + '.com', /label longer than 63/, 'RFC 1035 label limit'],
  [Array(5).fill('a'.repeat(50)).join('.') + '.abc', /longer than 253/, 'RFC 1035 name limit'],
  ['exa mple.com', /whitespace/, 'a space splits a request line'],
  ['example.com\t', /control|whitespace/, 'a tab'],
  ['exam\u00a0ple.com', /whitespace/, 'no-break space is whitespace too'],
  ['example.com\u0000.evil', /control/, 'NUL truncates in C resolvers (the classic null-byte bypass)'],
  ['example.com\r\nHost: x', /control|whitespace/, 'CRLF would inject a header'],
  ['\u007fexample.com', /control/, 'DEL'],
  ['\u0085example.com', /control|whitespace/, 'C1 control NEL'],
  ['evil.com%2egood.com', /'%'/, 'percent-encoding would be decoded by the URL parser into another host'],
  ['[fe80::1%25eth0]', /'%'/, 'an IPv6 zone id names a local interface'],
  ['evil.com\\good.com', /'\\'/, 'a backslash is a path separator to WHATWG parsers'],
  ['user@evil.com', /'@'/, 'userinfo would hide the real host'],
  ['good.com@evil.com', /'@'/, 'the classic userinfo confusion'],
  ['evil.com/good.com', /'\/'/, 'a slash would end the host for a URL parser'],
  ['evil.com?good.com', /'\?'/, 'a query mark would end the host'],
  ['evil.com#good.com', /'#'/, 'a fragment mark would end the host'],
  ['[github.com]', /IPv6/, 'brackets only wrap IPv6 literals'],
  ['[::1', /bracket/, 'an unclosed bracket'],
  ['::1]', /bracket/, 'a stray closing bracket'],
  ['ex[a]mple.com', /bracket/, 'brackets inside a name'],
  ['[[::1]]', /bracket/, 'doubled brackets'],
  ['example.com:443', /IPv6/, 'a port is not part of a host; the caller splits it off'],
  ['[::1]:443', /bracket|IPv6/, 'a port after an IPv6 literal is not part of the host'],
  ['[1:2:3:4:5:6:7:8:9]', /IPv6/, 'too many groups'],
  ['[::ffff:0177.0.0.1]', /IPv6/, 'embedded IPv4 must be plain decimal'],
  ['256.0.0.1', /not a valid/, 'an octet over 255'],
  ['1.2.3.4.5', /not a valid/, 'five parts'],
  ['09.0.0.1', /not a valid/, 'not octal, not decimal'],
  ['0x100000000', /not a valid/, 'over 32 bits'],
  ['example.123', /not a valid/, 'a numeric last label makes WHATWG parse IPv4, which fails'],
  ['*.example.com', /character/, 'a wildcard is a pattern, not a host'],
  ['exa!mple.com', /character/, 'punctuation outside LDH'],
  ['xn--a.com', /not a valid|character/, 'invalid Punycode'],
]

t.test('accepts and canonicalises', async (t) => {
  for (const [input, host, kind, why] of accepted) t.same(normalizeHost(input), { ok: true, host, kind }, `${JSON.stringify(input)}: ${why}`)
})

t.test('refuses', async (t) => {
  for (const [input, problem, why] of refused) {
    const result = normalizeHost(input)
    t.equal(result.ok, false, `${JSON.stringify(input)} is refused: ${why}`)
    if (!result.ok) t.match(result.problem, problem, `${JSON.stringify(input)} says why: ${why}`)
  }
})

t.test('is idempotent: a canonical host normalises to itself', async (t) => {
  for (const [, host, kind] of accepted) {
    const again = normalizeHost(kind === 6 ? `[${host}]` : host)
    t.same(again, { ok: true, host, kind }, `${host} is a fixed point`)
  }
})
