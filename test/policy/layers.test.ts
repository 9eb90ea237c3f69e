import t, { type Test } from 'tap'
import { boundApproval } from '../../policy/apply-requirements.js'
import { DEFAULT_APPROVAL } from '../../policy/approval-config.js'
import { decide } from '../../policy/decide.js'
import { loadPolicy } from '../../policy/load.js'
import { PolicyError } from '../../policy/policy-error.js'
import type { PolicySource } from '../../policy/read-source.js'
import type { Layer, Policy } from '../../policy/types.js'

const src = (layer: Layer, text: string, file = `${layer}.yaml`): PolicySource => ({ file, layer, text: `version: 1\n${text}` })
const classify = (policy: Policy, host: string, port = 443) => decide(policy, { host, port, kind: 'name' }).classification
const clampsOf = (policy: Policy) => (policy.clamps ?? []).map((c) => `${c.requirement} ${c.subject.file}:${c.subject.line}`)

// Each row: name, why, sources (lowest precedence first), then what must hold.
type Row = readonly [name: string, why: string, sources: PolicySource[], check: (t: Test, p: Policy) => void]

const rows: Row[] = [
  ['lists concatenate, each rule keeps its layer and line', 'every compiled rule remembers where it came from', [src('system', 'allow: [github.com]\n'), src('user', 'allow:\n  - gitlab.com\n'), src('project', 'block:\n  - "*.pastebin.com"\n')], (t, p) => {
    t.same(p.rules.map((r) => [r.pattern, r.layer, r.source.file, r.source.line]), [['github.com', 'system', 'system.yaml', 2], ['gitlab.com', 'user', 'user.yaml', 3], ['*.pastebin.com', 'project', 'project.yaml', 3]])
  }],
  ['a later scalar wins among layers that may set it', 'system then cli: the command line is the higher layer', [src('system', 'default: deny\n'), src('cli', 'default: ask\n')], (t, p) => t.equal(p.default, 'ask')],
  ['the project layer cannot set default', 'a repository must not turn deny into ask for itself', [src('system', 'default: deny\n'), src('project', 'default: ask\nallow: [a.example]\n')], (t, p) => {
    t.equal(p.default, 'deny', 'the system default stays')
    t.same(clampsOf(p), ['layer project.yaml:2'], 'reported by name and line')
    t.equal(classify(p, 'a.example'), 'allowed', 'its host rules still apply')
  }],
  ['the project layer cannot pick an approver', 'an approver chosen by the repository would approve itself', [src('project', 'approval:\n  approvers: [api]\n')], (t, p) => {
    t.equal(p.approval, undefined)
    t.match(p.clamps, [{ requirement: 'layer', layer: 'project', message: /'approval' is ignored/ }])
  }],
  ['the user layer cannot reach private networks', 'allow_private comes only from system, requirements or the command line', [src('user', 'allow_private: [10.0.0.0/8]\n')], (t, p) => {
    t.same(p.allowPrivate, [])
    t.same(clampsOf(p), ['layer user.yaml:2'])
  }],
  ['the project layer cannot switch to audit mode', 'audit mode would let the repository disable enforcement', [src('project', 'mode: audit\n')], (t, p) => t.equal(p.mode, undefined)],
  ['the decisions file only adds host rules', 'it is written by approvers; a hand edit must not widen settings', [src('cli', 'default: deny\n'), src('decisions', 'default: ask\nallow: ["x.example:443"]\n')], (t, p) => {
    t.equal(p.default, 'deny')
    t.equal(classify(p, 'x.example'), 'allowed')
  }],
  ['a requirement block beats any allow, and says so', 'no layer may override a managed block', [src('cli', 'allow: [paste.example, "*.example"]\n'), src('requirements', 'block: [paste.example]\n')], (t, p) => {
    t.equal(classify(p, 'paste.example'), 'blocked')
    t.equal(decide(p, { host: 'paste.example', port: 443, kind: 'name' }).rule?.layer, 'requirements')
    t.match(p.clamps, [{ requirement: 'block', message: /allow 'paste.example' has no effect/ }, { requirement: 'block', message: /allow '\*.example' is narrowed/ }])
  }],
  ['allowed_domains_only drops lower allows but keeps lower blocks', 'lower layers may still narrow', [src('cli', 'allow: [gitlab.com]\nblock: [bad.github.com]\n'), src('requirements', 'allowed_domains_only: true\nallow: ["*.github.com", github.com]\n')], (t, p) => {
    t.equal(classify(p, 'gitlab.com'), 'unknown', 'the lower allow is gone')
    t.equal(classify(p, 'api.github.com'), 'allowed', 'the requirement allow applies')
    t.equal(classify(p, 'bad.github.com'), 'blocked', 'the lower block applies')
    t.same(clampsOf(p), ['allowed_domains_only cli.yaml:2'])
  }],
  ['default cannot be looser than the requirement', 'ask is looser than deny', [src('system', 'default: ask\n'), src('requirements', 'default: deny\n')], (t, p) => {
    t.equal(p.default, 'deny')
    t.match(p.clamps, [{ requirement: 'default', subject: { file: 'system.yaml', line: 2 }, bound: { file: 'requirements.yaml', line: 2 } }])
  }],
  ['a stricter lower default stands', 'deny is within a requirement of ask', [src('system', 'default: deny\n'), src('requirements', 'default: ask\n')], (t, p) => {
    t.equal(p.default, 'deny')
    t.equal(p.clamps, undefined)
  }],
  ['approval timeout and max_pending have ceilings', 'a long timeout parks agents; many pending is a flood', [src('system', 'approval:\n  timeout: 10m\n  max_pending: 500\n'), src('requirements', 'approval:\n  timeout: 2m\n  max_pending: 16\n')], (t, p) => {
    t.match(p.approval, { timeoutMs: 120_000, maxPendingPerSession: 16 })
    t.same(p.clamps?.map((c) => c.requirement), ['approval.timeout', 'approval.max_pending'])
  }],
  ['the built-in approval default respects the ceiling too', 'nothing set is not a way around the ceiling', [src('system', 'allow: [a.example]\n'), src('requirements', 'approval:\n  timeout: 30s\n')], (t, p) => {
    t.equal(p.approval?.timeoutMs, 30_000)
    t.equal(p.clamps, undefined, 'no layer asked for more, so nothing is reported')
  }],
  ['allow_private has a ceiling', 'only networks inside the ceiling survive', [src('system', 'allow_private: [10.1.0.0/16, 192.168.0.0/16]\n'), src('requirements', 'allow_private: [10.0.0.0/8]\n')], (t, p) => {
    t.same(p.allowPrivate.map((c) => c.text), ['10.1.0.0/16'])
    t.match(p.clamps, [{ requirement: 'allow_private', message: /'192.168.0.0\/16' is outside/ }])
  }],
  ['an empty allow_private ceiling forbids all', 'allow_private: [] differs from no key', [src('cli', 'allow_private: [10.0.0.0/8]\n'), src('requirements', 'allow_private: []\n')], (t, p) => t.same(p.allowPrivate, [])],
  ['forbid audit-mode keeps enforce', 'the escape hatch is removed, and the attempt reported', [src('cli', 'mode: audit\n'), src('requirements', 'forbid: [audit-mode, no-sandbox]\n')], (t, p) => {
    t.equal(p.mode, 'enforce')
    t.same(p.requirements?.forbid, ['audit-mode', 'no-sandbox'], 'no-sandbox is kept for guarded-run to honour')
    t.same(clampsOf(p), ['forbid: audit-mode cli.yaml:2'])
  }],
  ['requirements may sit anywhere in the list', 'they bound the layers rather than being one', [src('requirements', 'block: [x.example]\n'), src('cli', 'allow: [x.example]\n')], (t, p) => t.equal(classify(p, 'x.example'), 'blocked')],
]

for (const [name, why, sources, check] of rows) t.test(`${name} (${why})`, async (t) => check(t, loadPolicy(sources)))

// Each row: sources, the problem message expected, why it is an error rather than a clamp.
const errors: readonly [PolicySource[], RegExp, string][] = [
  [[src('cli', 'forbid: [audit-mode]\n')], /'forbid' belongs in the managed requirements file/, 'its author believes it bounds something'],
  [[src('system', 'allowed_domains_only: true\n')], /'allowed_domains_only' belongs in the managed requirements file/, 'same'],
  [[src('requirements', 'mode: audit\n')], /'mode' cannot be set in the requirements file/, 'requirements bound modes, they do not pick one'],
  [[src('requirements', 'approval:\n  approvers: [api]\n')], /'approval.approvers' cannot be set in the requirements file/, 'only ceilings belong there'],
  [[src('requirements', 'block: [a.example]\n'), src('requirements', 'block: [b.example]\n', 'other.yaml')], /only one requirements file/, 'two sets of bounds would be ambiguous'],
  [[src('requirements', 'forbid: [no-proxy]\n')], /'forbid' entry 'no-proxy' is not an escape hatch/, 'a typo must not silently forbid nothing'],
]
t.test('requirement-only keys and misplaced settings are errors, with places', async (t) => {
  for (const [sources, message, why] of errors) {
    const err = t.throws(() => loadPolicy(sources), PolicyError, why) as unknown as PolicyError
    t.match(err.problems?.map((p) => p.message).join('\n'), message, why)
  }
})

t.test('command-line approval flags cannot exceed the requirement ceiling either', async (t) => {
  const policy = loadPolicy([src('requirements', 'approval:\n  timeout: 30s\n  max_pending: 8\n')])
  t.match(boundApproval({ ...DEFAULT_APPROVAL, timeoutMs: 600_000, maxPendingPerSession: 100 }, policy), { timeoutMs: 30_000, maxPendingPerSession: 8 })
  t.match(boundApproval({ ...DEFAULT_APPROVAL, timeoutMs: 5_000 }, policy), { timeoutMs: 5_000 }, 'a stricter flag stands')
})
