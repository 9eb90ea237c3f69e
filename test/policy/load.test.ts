import { readFileSync } from 'node:fs'
import t from 'tap'
import { loadPolicy } from '../../policy/load.js'
import { PolicyError } from '../../policy/policy-error.js'

const fixtureDir = new URL('../fixtures/policies/', import.meta.url)
const fixture = (name: string) => ({ file: name, text: readFileSync(new URL(name, fixtureDir), 'utf8') })

/** Loads and returns the PolicyError, failing the test if the policy loaded. */
function problemsOf(t: { fail: (message: string) => unknown }, sources: Parameters<typeof loadPolicy>[0]): PolicyError {
  try {
    loadPolicy(sources)
  } catch (err) {
    if (err instanceof PolicyError) return err
    throw err
  }
  t.fail('a bad policy loaded')
  return new PolicyError([])
}

t.test('a valid file compiles every pattern form, normalised', async (t) => {
  const policy = loadPolicy([fixture('good-full.yaml')])
  t.equal(policy.version, 1)
  t.equal(policy.default, 'deny', 'default: deny is read')
  t.same(policy.files, ['good-full.yaml'])
  const rows = policy.rules.map((r) => [r.action, r.pattern, r.host, r.ports, r.source.line, r.source.col])
  t.same(rows, [
    ['allow', 'GitHub.com.', { kind: 'exact', host: 'github.com' }, { kind: 'default' }, 4, 5],
    ['allow', '*.githubusercontent.com', { kind: 'wildcard', suffix: 'githubusercontent.com' }, { kind: 'default' }, 5, 5],
    ['allow', 'registry.npmjs.org:443', { kind: 'exact', host: 'registry.npmjs.org' }, { kind: 'range', from: 443, to: 443 }, 6, 5],
    ['allow', 'svc.example.com:8000-8100', { kind: 'exact', host: 'svc.example.com' }, { kind: 'range', from: 8000, to: 8100 }, 7, 5],
    ['allow', 'any.example.com:*', { kind: 'exact', host: 'any.example.com' }, { kind: 'any' }, 8, 5],
    ['allow', 'bücher.de', { kind: 'exact', host: 'xn--bcher-kva.de' }, { kind: 'default' }, 9, 5],
    ['allow', '140.82.112.0/20', { kind: 'cidr', family: 4, address: '140.82.112.0', prefix: 20 }, { kind: 'default' }, 10, 5],
    ['allow', '2001:db8::/32', { kind: 'cidr', family: 6, address: '2001:db8::', prefix: 32 }, { kind: 'default' }, 11, 5],
    ['allow', '[2001:db8::1]:443', { kind: 'cidr', family: 6, address: '2001:db8::1', prefix: 128 }, { kind: 'range', from: 443, to: 443 }, 12, 5],
    ['allow', '192.0.2.7', { kind: 'cidr', family: 4, address: '192.0.2.7', prefix: 32 }, { kind: 'default' }, 13, 5],
    ['allow', '*.github.io', { kind: 'wildcard', suffix: 'github.io' }, { kind: 'default' }, 14, 5],
    ['block', '*.pastebin.com', { kind: 'wildcard', suffix: 'pastebin.com' }, { kind: 'default' }, 16, 5],
  ])
  t.ok(policy.rules.every((r) => r.layer === 'cli' && r.source.file === 'good-full.yaml'), 'a plain file is the cli layer')
  t.same(policy.allowPrivate, [
    { family: 4, address: '10.20.0.0', prefix: 16, text: '10.20.0.0/16' },
    { family: 6, address: 'fd00::', prefix: 8, text: 'fd00::/8' },
  ])
})

t.test('the loaded policy is frozen all the way down', async (t) => {
  const policy = loadPolicy([fixture('good-full.yaml')])
  for (const value of [policy, policy.rules, policy.rules[0], policy.rules[0]?.host, policy.rules[0]?.ports, policy.rules[0]?.source, policy.allowPrivate[0]])
    t.ok(Object.isFrozen(value))
  t.throws(() => (policy.rules as unknown as unknown[]).push({}), 'rules cannot be appended to')
})

t.test('defaults: ask, and empty lists are allowed', async (t) => {
  const policy = loadPolicy([{ file: 'p.yaml', text: 'version: 1\nallow:\nblock: []\n' }])
  t.equal(policy.default, 'ask', 'no default key means ask')
  t.same(policy.rules, [], 'an empty allow: is an empty list')
})

// Each row: fixture, then every problem it must produce, in order: [line, col, message fragment, fix fragment].
type Expect = readonly [line: number, col: number, message: string | RegExp, fix: string | RegExp]
const bad: readonly (readonly [file: string, why: string, problems: readonly Expect[]])[] = [
  ['bad-version-missing.yaml', 'version is required so a future schema is never misread', [[1, 1, "'version' is missing", 'version: 1']]],
  ['bad-version.yaml', 'only version 1 exists', [[1, 10, "'version' must be 1", 'version: 1']]],
  ['bad-unknown-key.yaml', 'a typo must not silently drop rules', [
    [2, 1, "unknown key 'alow'", "did you mean 'allow'?"],
    // `mode` is a key now (enforce or audit), so `mode: strict` is a bad value rather than an unknown key.
    [4, 7, "'mode' must be enforce or audit", 'mode: enforce'],
  ]],
  ['bad-bare-star.yaml', 'a bare * allows everything', [[3, 5, "bare '*'", 'list the hosts'], [4, 5, "bare '*'", 'list the hosts']]],
  ['bad-public-suffix.yaml', 'a wildcard over an ICANN suffix covers strangers; *.github.io (private suffix) stays legal', [
    [3, 5, "'*.com' covers the public suffix 'com'", '*.example.com'],
    [4, 5, "'*.co.uk' covers the public suffix 'co.uk'", '*.example.co.uk'],
  ]],
  ['bad-wildcard-placement.yaml', "'*' is only a whole leading label", [
    [3, 5, "'github*': '*' may only be a single leading '*.' label", '*.example.com'],
    [4, 5, "'api.*': '*' may only be a single leading '*.' label", 'under every TLD'],
    [5, 5, "'*.*.example.com'", "write *.example.com: one leading '*.' already matches every depth"],
    [6, 5, "'foo.*.com'", '*.example.com'],
  ]],
  ['bad-ports.yaml', 'ports are plain decimal 1-65535', [
    [3, 5, "'0' is not a valid port", '1 to 65535'],
    [4, 5, "'65536' is not a valid port", '1 to 65535'],
    [5, 5, "'+80' is not a valid port", 'plain decimal'],
    [6, 5, "'08' is not a valid port", 'plain decimal'],
    [7, 5, "port range '9000-8000' is inverted", '8000-9000'],
    [8, 5, "'' is not a valid port", 'plain decimal'],
    [9, 5, "'http' is not a valid port", 'plain decimal'],
  ]],
  ['bad-cidr.yaml', 'CIDRs are exact networks in one spelling', [
    [3, 5, "'10.1.2.3/8' has host bits set", 'did you mean 10.0.0.0/8?'],
    [4, 5, "'10.0.0.0/33' has prefix length '33'", 'from 0 to 32'],
    [5, 5, "'2001:db8::1/32' has host bits set", 'did you mean 2001:db8::/32?'],
    [6, 5, "'010.0.0.0' is not a dotted-decimal IPv4 address", 'without leading zeros'],
    [7, 5, "'10.0.0.0/8/9' is not a CIDR", 'prefix length'],
    [8, 5, "'0x7f.1' is not a dotted-decimal IPv4 address", 'four decimal numbers'],
  ]],
  ['bad-ip-wildcard.yaml', 'IP ranges are CIDRs, not globs', [
    [3, 5, "'10.*.0.0': IP rules take no wildcards", 'CIDR'],
    [4, 5, "'*.10.0.0': IP rules take no wildcards", 'CIDR'],
    [5, 5, "'1.2.3.*': IP rules take no wildcards", 'CIDR'],
  ]],
  ['bad-duplicate-key.yaml', 'YAML would silently keep only the second list', [[4, 1, "duplicate key 'allow'", 'merge the entries under one key']]],
  ['bad-types.yaml', 'wrong types are named, not coerced', [
    [2, 10, "'default' must be ask or deny", 'default: ask'],
    [3, 8, "'allow' must be a list", '- entry'],
    [5, 5, "each 'block' entry must be a string", 'host, pattern or CIDR'],
    [6, 5, "each 'block' entry must be a string", 'host, pattern or CIDR'],
  ]],
  ['bad-unquoted-wildcard.yaml', 'an unquoted * is a YAML alias, the commonest slip', [[3, 5, "unquoted '*.pastebin.com' is read by YAML as an alias", 'quote it: "*.pastebin.com"']]],
  ['bad-allow-private.yaml', 'allow_private is CIDRs only', [
    [3, 5, "allow_private entry '10.0.0.1' is not a CIDR", '10.0.0.1/32'],
    [4, 5, "'10.0.0.1/8' has host bits set", 'did you mean 10.0.0.0/8?'],
    [5, 5, "allow_private entry 'internal.corp' is not a CIDR", 'not names'],
  ]],
  ['bad-yaml-syntax.yaml', 'syntax errors point at the place too', [[3, 1, /^YAML syntax: Flow sequence/, 'correct the YAML']]],
  ['bad-several.yaml', 'every problem in a file is reported, not just the first', [
    [5, 5, "'*.com' covers the public suffix", '*.example.com'],
    [6, 5, "'0' is not a valid port", '1 to 65535'],
    [8, 5, "'10.0.0.1/8' has host bits set", '10.0.0.0/8'],
    [9, 1, "unknown key 'colour'", 'known keys'],
  ]],
]

t.test('bad policies: every problem, with file:line:col and a fix', async (t) => {
  for (const [file, why, expected] of bad) {
    t.test(`${file}: ${why}`, async (t) => {
      const err = problemsOf(t, [fixture(file)])
      t.equal(err.code, 'GUARDED_BAD_POLICY')
      t.equal(err.problems.length, expected.length, 'exactly the expected problems')
      expected.forEach(([line, col, message, fix], i) => {
        const p = err.problems[i]
        t.match(p, { file, line, col, message, fix }, `problem ${i + 1}`)
        t.match(err.message, `${file}:${line}:${col}: `, 'the message lists it as file:line:col')
      })
    })
  }
})

t.test('the message lists each problem as file:line:col: message (fix: ...)', async (t) => {
  const err = problemsOf(t, [fixture('bad-version.yaml')])
  t.equal(err.message, 'invalid policy (1 problem):\n  bad-version.yaml:1:10: \'version\' must be 1 (fix: write "version: 1", the only schema version so far)')
})

t.test('problems are collected across every file before throwing', async (t) => {
  const err = problemsOf(t, [fixture('bad-version.yaml'), fixture('good-full.yaml'), fixture('bad-bare-star.yaml')])
  t.same(err.problems.map((p) => `${p.file}:${p.line}:${p.col}`), ['bad-version.yaml:1:10', 'bad-bare-star.yaml:3:5', 'bad-bare-star.yaml:4:5'])
})

t.test('no sources is an error, not an empty policy', async (t) => {
  t.match(problemsOf(t, []).problems, [{ message: 'no policy source was given' }])
})

t.test('two sources merge: lists concatenate in order, later scalars win, layers kept', async (t) => {
  const policy = loadPolicy([
    { file: 'system.yaml', layer: 'system', text: 'version: 1\ndefault: deny\nallow:\n  - github.com\nblock:\n  - "*.pastebin.com"\nallow_private:\n  - 10.0.0.0/8\n' },
    // The command-line layer may set scalars; a project layer may not (see test/policy/layers.test.ts).
    { file: 'project.yaml', layer: 'cli', text: 'version: 1\ndefault: ask\nallow:\n  - gitlab.com\nallow_private:\n  - 192.168.0.0/16\n' },
  ])
  t.equal(policy.default, 'ask', 'the later default wins')
  t.same(policy.files, ['system.yaml', 'project.yaml'])
  t.same(policy.rules.map((r) => [r.pattern, r.layer, r.source.file, r.source.line]), [
    ['github.com', 'system', 'system.yaml', 4],
    ['*.pastebin.com', 'system', 'system.yaml', 6],
    ['gitlab.com', 'cli', 'project.yaml', 4],
  ])
  t.same(policy.allowPrivate.map((c) => c.text), ['10.0.0.0/8', '192.168.0.0/16'])
})

t.test('a later source without default keeps the earlier one', async (t) => {
  const policy = loadPolicy([
    { file: 'a.yaml', text: 'version: 1\ndefault: deny\n' },
    { file: 'b.yaml', text: 'version: 1\nallow: [gitlab.com]\n' },
  ])
  t.equal(policy.default, 'deny')
})
