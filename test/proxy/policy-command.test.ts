import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { runCli } from '../helpers/run-cli.js'
import { tempDir } from '../helpers/temp-dir.js'

const dir = await tempDir(t, 'guarded-policy-cmd-')
process.env.XDG_CONFIG_HOME = join(dir, 'config') // the trust store of this test only (runCli inherits the environment)
const file = async (name: string, text: string) => (await writeFile(join(dir, name), text), join(dir, name))

const base = await file('base.yaml', `version: 1
default: ask
allow:
  - github.com
  - api.github.com
  - "*.github.io"
  - pastebin.com
  - github.com
  - "db.example:*"
block:
  - pastebin.com
`)
const requirements = await file('requirements.yaml', 'version: 1\ndefault: deny\nblock:\n  - api.github.com\nforbid: [audit-mode]\n')
const next = await file('next.yaml', 'version: 1\nallow:\n  - github.com\nblock:\n  - api.github.com\n')
const broken = await file('broken.yaml', 'version: 2\nalow: [x]\n')

t.test('lint: warnings for duplicate, unreachable and broad rules, each at file:line:col; exit 0', async (t) => {
  const { code, stdout } = await runCli(['policy', 'lint', base])
  t.equal(code, 0)
  t.same(stdout.trim().split('\n'), [
    `${base}:6:5: warning: allow '*.github.io' matches every customer's site under github.io, not one organisation's: name the hosts you mean`,
    `${base}:7:5: warning: allow 'pastebin.com' is unreachable: block 'pastebin.com' (${base}:11:5) matches everything it does, and a block always wins`,
    `${base}:8:5: warning: allow 'github.com' duplicates 'github.com' (${base}:4:5)`,
    `${base}:9:5: warning: allow 'db.example:*' opens every port, including SSH (22) and databases: name the ports you need`,
    '0 errors, 4 warnings (7 rules from 1 file)',
  ])
})

t.test('lint: errors with file:line:col and a fix; exit 1', async (t) => {
  const { code, stdout } = await runCli(['policy', 'lint', '--policy', broken])
  t.equal(code, 1)
  t.match(stdout, `${broken}:1:10: error: 'version' must be 1 (fix: write "version: 1"`)
  t.match(stdout, `${broken}:2:1: error: unknown key 'alow' (fix: did you mean 'allow'?)`)
  t.match(stdout, /\n2 errors\n$/)
})

t.test('lint: a requirement that clamps a layer is reported by name and place', async (t) => {
  const { code, stdout } = await runCli(['policy', 'lint', base, '--requirements', requirements])
  t.equal(code, 0)
  t.match(stdout, `${base}:2:1: warning: 'default: ask' is looser than the requirements allow; default: deny applies [default, ${requirements}:2:1]`)
  t.match(stdout, `${base}:5:5: warning: allow 'api.github.com' has no effect: requirement block 'api.github.com' (${requirements}:4:5) cannot be overridden [block, ${requirements}:4:5]`)
})

t.test('explain: classification, rule, layer and place, and the clamp', async (t) => {
  const { code, stdout } = await runCli(['policy', 'explain', 'api.github.com', '--policy', base, '--requirements', requirements])
  t.equal(code, 0)
  t.same(stdout.trim().split('\n'), [
    'api.github.com:443: blocked (action deny, reason blocked)',
    `  rule: block 'api.github.com' (requirements layer, ${requirements}:4:5)`,
    `  clamped: allow 'api.github.com' has no effect: requirement block 'api.github.com' (${requirements}:4:5) cannot be overridden (cli layer, ${base}:5:5; requirement at ${requirements}:4:5)`,
  ])
  const unknown = await runCli(['policy', 'explain', 'example.org:8080', '--policy', base])
  t.match(unknown.stdout, 'example.org:8080: unknown (action ask, reason unknown)\n  rule: none matches; the default (ask) applies\n')
  const bad = await runCli(['policy', 'explain', 'not a host', '--policy', base])
  t.equal(bad.code, 2, 'a bad destination is a usage error')
})

t.test('test: prints each mismatch with its place and why; exit 1, or 0 when all hold', async (t) => {
  const expectations = await file('expect.yaml', 'version: 1\nexpect:\n  github.com: allowed\n  "pastebin.com:443": allowed\n  example.org: unknown\n')
  const failing = await runCli(['policy', 'test', expectations, '--policy', base])
  t.equal(failing.code, 1)
  t.same(failing.stdout.trim().split('\n'), [`${expectations}:4:3: pastebin.com:443: expected allowed, got blocked (block 'pastebin.com' (cli layer, ${base}:11:5))`, '3 expectations, 1 mismatch'])
  const passing = await file('expect-ok.yaml', 'version: 1\nexpect:\n  github.com: allowed\n  pastebin.com: blocked\n')
  const ok = await runCli(['policy', 'test', passing, '--policy', base])
  t.equal(ok.code, 0)
  t.equal(ok.stdout, '2 expectations, 0 mismatches\n')
  const bad = await runCli(['policy', 'test', await file('expect-bad.yaml', 'version: 1\nexpect:\n  github.com: permitted\n'), '--policy', base])
  t.equal(bad.code, 1)
  t.match(bad.stdout, "3:15: error: 'permitted' is not a classification (fix: write one of: allowed, blocked, unknown)")
})

t.test('diff: each destination that changes classification; exit 1 when any does', async (t) => {
  const { code, stdout } = await runCli(['policy', 'diff', base, next])
  t.equal(code, 1)
  const lines = stdout.trim().split('\n')
  t.ok(lines.includes(`api.github.com:443: allowed → blocked (now: block 'api.github.com' (cli layer, ${next}:5:5))`), 'a new block')
  t.ok(lines.includes(`pastebin.com:443: blocked → unknown/ask (was: block 'pastebin.com' (cli layer, ${base}:11:5))`), 'a removed block')
  t.ok(lines.includes(`www.github.io:443: allowed → unknown/ask (was: allow '*.github.io' (cli layer, ${base}:6:5))`), 'a wildcard is sampled by a subdomain')
  t.equal(lines.at(-1), `${lines.length - 1} destinations change classification`)
  const same = await runCli(['policy', 'diff', base, base])
  t.equal(same.code, 0)
  t.equal(same.stdout, '0 destinations change classification\n')
})

t.test('trust: records the SHA-256; a file that does not load is not trusted', async (t) => {
  const repo = join(dir, 'repo')
  await mkdir(join(repo, '.guarded'), { recursive: true })
  await writeFile(join(repo, '.guarded', 'policy.yaml'), 'version: 1\ndefault: ask\nallow: [registry.example]\n')
  const { code, stdout } = await runCli(['policy', 'trust', repo])
  t.equal(code, 0)
  t.match(stdout, `.guarded/policy.yaml:2:1: warning: the project layer may only add allow and block rules; its 'default' is ignored`)
  t.match(stdout, /trusted .*\/repo\/\.guarded\/policy\.yaml \(sha256 [0-9a-f]{64}\): 1 allow and 0 block rules; an edit makes it untrusted again/)
  t.match(await readFile(join(dir, 'config', 'guarded', 'trusted-projects.json'), 'utf8'), /"sha256": "[0-9a-f]{64}"/)
  await writeFile(join(repo, '.guarded', 'policy.yaml'), 'version: 3\n')
  const refused = await runCli(['policy', 'trust', repo])
  t.equal(refused.code, 1)
  t.match(refused.stdout, "error: 'version' must be 1")
})

t.test('usage mistakes exit 2 with the usage text', async (t) => {
  const { code, stderr } = await runCli(['policy', 'frobnicate'])
  t.equal(code, 2)
  t.match(stderr, 'unknown policy command "frobnicate"')
  t.match(stderr, 'usage: guarded-proxy policy <command>')
})
