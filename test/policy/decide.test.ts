import t from 'tap'
import { decide } from '../../policy/decide.js'
import { loadPolicy } from '../../policy/load.js'
import type { Destination } from '../../policy/types.js'

const rules = `
allow:
  - github.com
  - "*.example.com"
  - "*.deep.example.com:8443"
  - registry.npmjs.org:443
  - svc.test.org:8000-8100
  - any.test.org:*
  - api.test.org:*
  - both.test.org:*
  - both.test.org:443
  - dup.test.org
  - dup.test.org
  - 140.82.112.0/20
  - 192.0.2.7
  - 198.51.100.0/24:22
  - 2001:db8::/32
  - "[2001:db8::1]:443"
  - "[::ffff:203.0.113.0/120]:*"
block:
  - "*.pastebin.com"
  - bad.example.com
  - api.test.org:8080
  - 140.82.113.0/24
  - 10.0.0.0/8
`
const ask = loadPolicy([{ file: 'ask.yaml', text: `version: 1\ndefault: ask\n${rules}` }])
const deny = loadPolicy([{ file: 'deny.yaml', text: `version: 1\ndefault: deny\n${rules}` }])

const name = (host: string, port: number): Destination => ({ host, port, kind: 'name' })
const v4 = (host: string, port: number): Destination => ({ host, port, kind: 4 })
const v6 = (host: string, port: number): Destination => ({ host, port, kind: 6 })

type Expect = readonly [classification: string, reason: string, rule: string | undefined]
const ALLOWED = (rule: string): Expect => ['allowed', 'allowed', rule]
const BLOCKED = (rule: string): Expect => ['blocked', 'blocked', rule]
const PORT = (rule: string): Expect => ['unknown', 'port-not-allowed', rule]
const UNKNOWN: Expect = ['unknown', 'unknown', undefined]

const table: readonly (readonly [Destination, Expect, string])[] = [
  [name('github.com', 443), ALLOWED('github.com'), 'exact host, HTTPS'],
  [name('github.com', 80), ALLOWED('github.com'), 'exact host, HTTP: no port means 80 and 443'],
  [name('github.com', 22), PORT('github.com'), 'exact host on another port names the allow rule'],
  [name('www.github.com', 443), UNKNOWN, 'an exact rule does not cover subdomains'],
  [name('a.example.com', 443), ALLOWED('*.example.com'), 'wildcard, one label deep'],
  [name('a.b.c.example.com', 443), ALLOWED('*.example.com'), 'wildcard, any depth'],
  [name('example.com', 443), UNKNOWN, 'a wildcard never matches its apex'],
  [name('notexample.com', 443), UNKNOWN, 'wildcards match whole labels, not string suffixes'],
  [name('example.com.evil.org', 443), UNKNOWN, 'the suffix must be at the end'],
  [name('x.deep.example.com', 8443), ALLOWED('*.deep.example.com:8443'), 'the longer wildcard with its port'],
  [name('x.deep.example.com', 443), ALLOWED('*.example.com'), 'a less specific rule still matches when the specific one has the wrong port'],
  [name('x.deep.example.com', 9000), PORT('*.deep.example.com:8443'), 'port mismatch names the most specific host match'],
  [name('registry.npmjs.org', 443), ALLOWED('registry.npmjs.org:443'), 'explicit port'],
  [name('registry.npmjs.org', 80), PORT('registry.npmjs.org:443'), 'an explicit port replaces the default 80/443'],
  [name('svc.test.org', 8000), ALLOWED('svc.test.org:8000-8100'), 'range, low end inclusive'],
  [name('svc.test.org', 8100), ALLOWED('svc.test.org:8000-8100'), 'range, high end inclusive'],
  [name('svc.test.org', 7999), PORT('svc.test.org:8000-8100'), 'just below the range'],
  [name('svc.test.org', 8101), PORT('svc.test.org:8000-8100'), 'just above the range'],
  [name('any.test.org', 1), ALLOWED('any.test.org:*'), ':* is every port, low'],
  [name('any.test.org', 65535), ALLOWED('any.test.org:*'), ':* is every port, high'],
  [name('x.pastebin.com', 443), BLOCKED('*.pastebin.com'), 'block wildcard'],
  [name('x.pastebin.com', 8080), BLOCKED('*.pastebin.com'), 'a block rule without a port is every port'],
  [name('pastebin.com', 443), UNKNOWN, 'a block wildcard does not cover its apex either'],
  [name('bad.example.com', 443), BLOCKED('bad.example.com'), 'block beats allow, even a less specific block over a wildcard allow'],
  [name('sub.bad.example.com', 443), ALLOWED('*.example.com'), 'an exact block does not cover subdomains'],
  [name('api.test.org', 8080), BLOCKED('api.test.org:8080'), 'a ported block beats an any-port allow on that port'],
  [name('api.test.org', 8081), ALLOWED('api.test.org:*'), '... and only on that port'],
  [name('both.test.org', 443), ALLOWED('both.test.org:443'), 'same host: the narrower ports win, though written later'],
  [name('both.test.org', 8080), ALLOWED('both.test.org:*'), 'same host: only the any-port rule matches'],
  [name('unknown.org', 443), UNKNOWN, 'no rule at all'],
  [v4('140.82.112.5', 443), ALLOWED('140.82.112.0/20'), 'IPv4 CIDR'],
  [v4('140.82.127.255', 443), ALLOWED('140.82.112.0/20'), 'last address of the CIDR'],
  [v4('140.82.128.0', 443), UNKNOWN, 'first address past the CIDR'],
  [v4('140.82.113.9', 443), BLOCKED('140.82.113.0/24'), 'a block CIDR inside an allow CIDR wins'],
  [v4('192.0.2.7', 80), ALLOWED('192.0.2.7'), 'a single IPv4 literal is a /32'],
  [v4('192.0.2.8', 80), UNKNOWN, 'the next address is not covered'],
  [v4('198.51.100.9', 22), ALLOWED('198.51.100.0/24:22'), 'CIDR with a port'],
  [v4('198.51.100.9', 443), PORT('198.51.100.0/24:22'), 'CIDR port mismatch'],
  [v4('10.1.2.3', 443), BLOCKED('10.0.0.0/8'), 'block CIDR'],
  [v6('2001:db8::5', 443), ALLOWED('2001:db8::/32'), 'IPv6 CIDR'],
  [v6('2001:db8::1', 443), ALLOWED('[2001:db8::1]:443'), 'the /128 with a port is more specific than the /32'],
  [v6('2001:db8::1', 80), ALLOWED('2001:db8::/32'), '... and on port 80 only the /32 matches'],
  [v6('2001:db9::1', 443), UNKNOWN, 'outside the IPv6 CIDR'],
  [v6('::ffff:140.82.112.5', 443), ALLOWED('140.82.112.0/20'), 'an IPv4-mapped literal matches IPv4 CIDRs: it is the same destination'],
  [v6('::ffff:10.1.2.3', 443), BLOCKED('10.0.0.0/8'), 'so [::ffff:10.1.2.3] cannot slip past an IPv4 block'],
  [v4('203.0.113.9', 443), ALLOWED('[::ffff:203.0.113.0/120]:*'), 'and an IPv4 literal matches an IPv4-mapped CIDR'],
  [v6('::ffff:203.0.113.9', 443), ALLOWED('[::ffff:203.0.113.0/120]:*'), 'an IPv4-mapped literal matches its own CIDR'],
  [name('140.82.112.5', 443), UNKNOWN, 'CIDR rules only match IP-literal destinations'],
  [v4('192.0.2.7', 443), ALLOWED('192.0.2.7'), 'name rules are not consulted for literals; the /32 is'],
]

t.test('default ask: unknown and port-not-allowed ask', async (t) => {
  for (const [dest, [classification, reason, rule], why] of table) {
    const d = decide(ask, dest)
    const action = classification === 'blocked' ? 'deny' : classification === 'allowed' ? 'allow' : 'ask'
    t.same({ classification: d.classification, action: d.action, reason: d.reason, rule: d.rule?.pattern }, { classification, action, reason, rule }, `${dest.host}:${dest.port}: ${why}`)
  }
})

t.test('default deny: unknown and port-not-allowed deny', async (t) => {
  for (const [dest, [classification, reason, rule], why] of table) {
    const d = decide(deny, dest)
    const action = classification === 'allowed' ? 'allow' : 'deny'
    t.same({ classification: d.classification, action: d.action, reason: d.reason, rule: d.rule?.pattern }, { classification, action, reason, rule }, `${dest.host}:${dest.port}: ${why}`)
  }
})

t.test('ties between equal rules go to the first written', async (t) => {
  const [first, second] = ask.rules.filter((r) => r.pattern === 'dup.test.org')
  t.equal(second?.source.line, (first?.source.line ?? 0) + 1, 'the fixture really has two identical rules')
  t.equal(decide(ask, name('dup.test.org', 443)).rule, first, 'the first one written decides')
})

t.test('the decision carries the rule object and is frozen', async (t) => {
  const d = decide(ask, name('github.com', 443))
  t.equal(d.rule, ask.rules[0], 'the very rule from the policy, with its source')
  t.match(d.rule?.source, { file: 'ask.yaml', line: 5, col: 5 }, 'line 5: the rules text starts with a blank line')
  t.ok(Object.isFrozen(d))
})

t.test('a hand-built policy (no loadPolicy) is indexed on first use', async (t) => {
  const handmade = { ...ask }
  t.same(decide(handmade, name('a.example.com', 443)).reason, 'allowed')
})
