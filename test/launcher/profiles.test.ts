import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { findProfile, loadProfile, parseProfile, profileNames, ProfileError } from '../../launcher/profiles.js'

const home = mkdtempSync(join(tmpdir(), 'guarded-profiles-'))
t.teardown(() => rmSync(home, { recursive: true, force: true }))

t.test('the built-in profiles load and say what each agent needs', async (t) => {
  const rows: [string, string, string, string][] = [
    ['claude', '~/.claude/', 'ANTHROPIC_API_KEY', 'api.anthropic.com'],
    ['codex', '~/.codex/', 'OPENAI_API_KEY', 'api.openai.com'],
    ['aider', '~/.aider/', 'OPENAI_API_KEY', 'api.openai.com'],
    ['gemini', '~/.gemini/', 'GEMINI_API_KEY', 'generativelanguage.googleapis.com'],
  ]
  for (const [name, dir, env, host] of rows) {
    const p = loadProfile(name, home)
    t.ok(p.writable.includes(dir), `${name} writes ${dir}`)
    t.ok(p.keepEnv.includes(env), `${name} keeps ${env}`)
    t.ok(p.allowHosts.includes(host), `${name} talks to ${host}`)
  }
  t.ok(loadProfile('gemini', home).keepEnv.includes('GOOGLE_API_KEY'))
  t.ok(loadProfile('claude', home).writable.includes('~/.claude.json'))
})

t.test('detected from the command basename, or named with --profile', async (t) => {
  t.equal(findProfile(['/usr/local/bin/claude', '-p', 'hi'], home)?.name, 'claude')
  t.equal(findProfile(['codex'], home)?.name, 'codex')
  t.equal(findProfile(['bash'], home), null, 'no profile: nothing extra is writable or kept')
  t.equal(findProfile(['bash'], home, 'aider')?.name, 'aider')
  t.throws(() => findProfile(['x'], home, 'nope'), /GUARDED_UNKNOWN_PROFILE.*claude/)
})

t.test("a user's profile is found and overrides a built-in", async (t) => {
  const dir = join(home, '.config', 'guarded', 'profiles')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'myagent.yaml'), 'name: myagent\ncommands: [my-agent]\nwritable: [~/.myagent/]\nkeep_env: [MY_TOKEN]\nallow_hosts: [api.example.com]\n')
  writeFileSync(join(dir, 'codex.yaml'), 'name: codex\ncommands: [codex]\nkeep_env: [OPENAI_API_KEY, OPENAI_ORG_KEY]\n')
  t.match(findProfile(['my-agent'], home), { name: 'myagent', keepEnv: ['MY_TOKEN'] })
  t.same(loadProfile('codex', home).keepEnv, ['OPENAI_API_KEY', 'OPENAI_ORG_KEY'])
  t.ok(profileNames(home).includes('myagent'))
})

t.test('invalid files are reported with file:line:col, every problem at once', async (t) => {
  const text = 'name: bad\ncommands: [ok, /usr/bin/x]\nwritable:\n  - relative/path\nkeep_env: [NOT-A-NAME]\nallow_hosts: [API.Example.com]\ncolour: blue\n'
  const err = t.throws(() => parseProfile(text, 'bad.yaml')) as ProfileError
  t.match(err.problems, [
    /^bad\.yaml:7:1: unknown key 'colour'/,
    /^bad\.yaml:2:16: commands: "\/usr\/bin\/x" a command is a basename/,
    /^bad\.yaml:4:5: writable: "relative\/path" start with ~\/ or \//,
    /^bad\.yaml:5:12: keep_env: "NOT-A-NAME" not an environment variable name/,
    /^bad\.yaml:6:15: allow_hosts: "API.Example.com" not a lower-case host name/,
  ])
  t.throws(() => parseProfile('name: [x\n', 'broken.yaml'), /broken\.yaml:\d+:\d+:/)
  t.throws(() => parseProfile('- a\n', 'list.yaml'), /list\.yaml:1:1: a profile is a mapping/)
  t.throws(() => parseProfile('commands: [x]\n', 'noname.yaml'), /noname\.yaml:1:1: missing 'name'/)
})
