/** Object rules (methods, paths, inspect, credentials), the path canonicaliser and request decisions, as tables. */
import t from 'tap'
import { canonicalPath } from '../../policy/canonical-path.js'
import { decideRequest, needsInspection, policyNeedsInspection } from '../../policy/decide-request.js'
import { loadPolicy } from '../../policy/load.js'
import { PolicyError } from '../../policy/policy-error.js'
import type { Destination, Layer, Policy } from '../../policy/types.js'

const GITHUB = `version: 1
default: deny
allow:
  - host: api.github.com
    methods: [GET, head]
    paths: ["/repos/acme/**", "/orgs/acme/**"]
    credentials:
      header: Authorization
      value: "Bearer \${env:GITHUB_TOKEN}"
  - host: api.github.com
    methods: [POST]
    paths: ["/repos/acme/*/issues"]
  - host: "uploads.github.com:8443"
    inspect: true
  - "*.npmjs.org"
tls_ports: [443, 8443]
`

function load(text: string, layer: Layer = 'cli'): Policy {
  return loadPolicy([{ file: 'p.yaml', text, layer }])
}

function problemsOf(text: string, layer: Layer = 'cli'): string[] {
  try {
    load(text, layer)
  } catch (err) {
    if (err instanceof PolicyError) return err.problems.map((p) => `${p.line}: ${p.message} | ${p.fix}`)
    throw err
  }
  return []
}

const api: Destination = { host: 'api.github.com', port: 443, kind: 'name' }

t.test('an object rule loads with upper-cased methods, its globs, credentials as a template, and tls_ports', async (t) => {
  const policy = load(GITHUB)
  const rule = policy.rules[0]!
  t.same(rule.methods, ['GET', 'HEAD'])
  t.same(rule.paths, ['/repos/acme/**', '/orgs/acme/**'])
  t.same(rule.credentials, { header: 'authorization', parts: [{ kind: 'text', text: 'Bearer ' }, { kind: 'env', name: 'GITHUB_TOKEN' }] })
  t.equal(rule.pattern, 'api.github.com')
  t.equal(rule.source.line, 4, 'the rule points at its host line')
  t.same(policy.tlsPorts, [443, 8443])
  t.equal(policy.rules[2]?.ports.kind, 'range', 'host takes a port, as a plain entry does')
  t.notOk(JSON.stringify(policy).includes('ghp_'), 'the policy holds a reference, never a secret')
})

t.test('which hosts need inspection', async (t) => {
  const policy = load(GITHUB)
  t.ok(policyNeedsInspection(policy))
  t.ok(needsInspection(policy, api))
  t.ok(needsInspection(policy, { host: 'uploads.github.com', port: 8443, kind: 'name' }), 'inspect: true alone')
  t.notOk(needsInspection(policy, { host: 'uploads.github.com', port: 443, kind: 'name' }), 'only on the ports the rule covers')
  t.notOk(needsInspection(policy, { host: 'registry.npmjs.org', port: 443, kind: 'name' }), 'plain rules stay opaque')
  t.notOk(policyNeedsInspection(load('version: 1\nallow:\n  - github.com\n')), 'no CA needed for a plain policy')
})

t.test('request decisions, each row with the reason it expects', async (t) => {
  const policy = load(GITHUB)
  const rows: [string, string, string, number | undefined][] = [
    ['GET', '/repos/acme/widgets', 'allowed', 0],
    ['HEAD', '/orgs/acme/members', 'allowed', 0],
    ['GET', '/repos/acme', 'allowed', 0],
    ['POST', '/repos/acme/widgets/issues', 'allowed', 1],
    ['POST', '/repos/acme/widgets/pulls', 'method-not-allowed', 0],
    ['DELETE', '/repos/acme/widgets', 'method-not-allowed', 0],
    ['GET', '/repos/other/widgets', 'path-not-allowed', 0],
    ['GET', '/repos/acmecorp/x', 'path-not-allowed', 0],
    ['get', '/repos/acme/x', 'method-not-allowed', 0],
  ]
  for (const [method, path, reason, rule] of rows) {
    const decision = decideRequest(policy, api, { method, path })
    t.equal(decision.reason, reason, `${method} ${path}`)
    t.equal(decision.action, reason === 'allowed' ? 'allow' : 'deny')
    if (rule !== undefined) t.equal(decision.rule, policy.rules[rule], `${method} ${path} names rule ${rule}`)
  }
  t.equal(decideRequest(policy, { host: 'evil.test', port: 443, kind: 'name' }, { method: 'GET', path: '/' }).reason, 'unknown', 'the host decision comes first')
  t.equal(decideRequest(policy, { host: 'registry.npmjs.org', port: 443, kind: 'name' }, { method: 'DELETE', path: '/x' }).reason, 'allowed', 'plain rules admit any request')
})

t.test('canonical paths: traversal and encoding tricks resolve before matching, ambiguity is refused', async (t) => {
  const rows: [string, string | null][] = [
    ['/repos/acme/x?ref=main', '/repos/acme/x'],
    ['/repos/acme/../other', '/repos/other'],
    ['/repos/acme/%2e%2e/other', '/repos/other'],
    ['/repos/acme/%2E%2E/other', '/repos/other'],
    ['/repos/acme/.%2e/other', '/repos/other'],
    ['/repos/acme/./x', '/repos/acme/x'],
    ['/repos/acme/x/..', '/repos/acme/'],
    ['/../../etc', '/etc'],
    ['/repos/%61cme/x', '/repos/acme/x'],
    ['/a%7eb/%41', '/a~b/A'],
    ['/a%3a%3fb', '/a%3A%3Fb'],
    ['/', '/'],
    ['/repos/acme%2f..%2fother', null],
    ['/repos/acme%5c..%5cother', null],
    ['/repos/acme/..;/other', null],
    ['/repos/acme\\..\\other', null],
    ['/a%zz', null],
    ['/a%00b', null],
    ['/a b', null],
    ['*', null],
    ['https://evil.test/', null],
  ]
  for (const [input, expected] of rows) {
    const result = canonicalPath(input)
    if (expected === null) t.notOk(result.ok, `${input} is refused`)
    else t.same(result, { ok: true, path: expected }, `${input} → ${expected}`)
  }
  const policy = load(GITHUB)
  for (const trick of ['/repos/acme/../other/x', '/repos/acme/%2e%2e/other/x', '/repos/acme/%2E%2e/%2e%2E/x']) {
    const path = canonicalPath(trick)
    t.ok(path.ok)
    if (path.ok) t.equal(decideRequest(policy, api, { method: 'GET', path: path.path }).reason, 'path-not-allowed', trick)
  }
})

t.test('credentials are refused in user and project policies, with file:line and a fix', async (t) => {
  for (const layer of ['user', 'project', 'decisions'] as const) {
    const problems = problemsOf(GITHUB, layer)
    t.equal(problems.length, 1, layer)
    t.match(problems[0], new RegExp(`^8: credentials may not be set in a ${layer} policy.*\\| move this rule to the system policy`))
  }
  const rulesOnly = GITHUB.replace(/tls_ports:.*\n/, '')
  for (const layer of ['system', 'requirements', 'cli'] as const) t.same(problemsOf(rulesOnly, layer), [], layer)
  t.same(problemsOf(GITHUB.replace(/ {4}credentials:[\s\S]*?GITHUB_TOKEN\}"\n/, ''), 'project'), [], 'a project may still narrow methods and paths')
})

t.test('every mistake in an object rule is reported at its line with a fix', async (t) => {
  const rows: [string, RegExp][] = [
    ['  - methods: [GET]', /a rule written as a mapping needs 'host'/],
    ['  - host: api.test\n    method: [GET]', /unknown rule field 'method'.*host, methods, paths/],
    ['  - host: api.test\n    methods: []', /'methods' must be a non-empty list/],
    ['  - host: api.test\n    methods: ["GE T"]', /'GE T' is not an HTTP method/],
    ['  - host: api.test\n    paths: ["repos/**"]', /does not start with '\/'.*write "\/repos\/\*\*"/],
    ['  - host: api.test\n    paths: ["/repos/../x"]', /holds a dot segment/],
    ['  - host: api.test\n    inspect: yes please', /'inspect' must be true or false/],
    ['  - host: api.test\n    credentials: {header: Host, value: "${env:T}"}', /'host' cannot be a credential header/],
    ['  - host: api.test\n    credentials: {header: X-Key, value: "s3cret"}', /must come from \$\{env:NAME\}/],
    ['  - host: api.test\n    credentials: {header: X-Key, value: "${env:1X}"}', /does not name an environment variable/],
    ['  - host: api.test\n    credentials: {header: X-Key, value: "${file:relative}"}', /needs an absolute path/],
    ['  - host: api.test\n    credentials: {header: X-Key, value: "${vault:x}"}', /holds a '\$\{' that is not/],
    ['  - host: api.test\n    credentials: {header: X-Key, value: "${env:T}", scope: all}', /not 'scope'/],
    ['  - host: "api.test:99999"', /not a valid port/],
  ]
  for (const [entry, expected] of rows) {
    const problems = problemsOf(`version: 1\nallow:\n${entry}\n`)
    t.equal(problems.length, 1, entry)
    t.match(problems[0], expected, entry)
    t.match(problems[0], /^\d+: .+ \| .+/, 'a line, a message and a fix')
  }
  t.match(problemsOf('version: 1\nblock:\n  - host: x.test\n    methods: [GET]\n')[0], /block rules take only host/)
  t.match(problemsOf('version: 1\ntls_ports: [443, http]\n')[0], /'tls_ports' must be a list of port numbers/)
})
