import t from 'tap'
import { parsePathEntry, planSandbox, type Mount } from '../../launcher/sandbox-plan.js'
import type { Profile } from '../../launcher/profiles.js'
import { fakeProbe } from './helpers/fake-probe.js'

const WS = '/home/u/proj'
const HOME = '/home/u'
const base = [`${WS}/README.md`, `${WS}/.git/hooks/`, `${WS}/.git/config`, `${HOME}/.ssh/id_ed25519`]

const find = (mounts: readonly Mount[], path: string): Mount | undefined => mounts.find((m) => m.path === path)

t.test('each path ends up with the mount its role needs', async (t) => {
  const probe = fakeProbe([...base, `${WS}/.vscode/settings.json`, `${WS}/src/.env.local`, `${HOME}/.aws/credentials`, `${HOME}/.npmrc`, `${WS}/.bashrc`])
  const plan = planSandbox({ workspace: WS, home: HOME }, probe)
  const rows: [string, Partial<Mount> | undefined, string][] = [
    [WS, { op: 'bind', why: 'workspace' }, 'the workspace is writable'],
    [`${WS}/.git`, { op: 'bind', why: 'ancestor' }, 'ancestor of a protected path becomes a mount point, so mv fails'],
    [`${WS}/.git/hooks`, { op: 'ro-bind', why: 'protected' }, 'existing hooks dir is read-only'],
    [`${WS}/.git/config`, { op: 'ro-bind', why: 'protected' }, 'git config is read-only'],
    [`${WS}/.vscode`, { op: 'ro-bind', why: 'protected' }, 'existing editor config is read-only'],
    [`${WS}/.bashrc`, { op: 'ro-bind', why: 'protected' }, 'an existing rc file is read-only'],
    [`${WS}/.zshrc`, undefined, 'a missing rc file is not covered: no mount point in the tree'],
    [`${WS}/.claude`, { op: 'cover-dir', mode: '0555', why: 'protected' }, 'a missing agent dir gets an empty read-only dir'],
    [`${WS}/.mcp.json`, { op: 'cover-file', why: 'protected' }, 'a missing protected file gets /dev/null'],
    [`${HOME}/.ssh`, { op: 'cover-dir', mode: '0000', why: 'secret' }, 'ssh keys are unlistable'],
    [`${HOME}/.aws`, { op: 'cover-dir', mode: '0000', why: 'secret' }, 'cloud credentials are unlistable'],
    [`${HOME}/.npmrc`, { op: 'cover-file', why: 'secret' }, 'a secret file opens with EACCES'],
    [`${HOME}/.kube`, undefined, 'a missing secret needs no cover (HOME is read-only anyway)'],
    [`${WS}/src/.env.local`, { op: 'cover-file', why: 'secret' }, '.env.* anywhere in the workspace is hidden'],
  ]
  for (const [path, want, why] of rows) {
    if (want === undefined) t.equal(find(plan.mounts, path), undefined, why)
    else t.match(find(plan.mounts, path), want, why)
  }
  t.same(plan.stubs.slice().sort(), ['.agents', '.claude', '.codex', '.guarded', '.idea', '.mcp.json'].map((p) => `${WS}/${p}`), 'the mount points bwrap will create are listed for removal')
  t.ok(Object.isFrozen(plan) && Object.isFrozen(plan.mounts), 'the plan is frozen')
})

t.test('mounts come in an order where later ones win: writable, ancestors, protected, secrets', async (t) => {
  const plan = planSandbox({ workspace: WS, home: HOME, allowWrite: ['~/.cache/x/'] }, fakeProbe([...base, `${HOME}/.cache/x/`]))
  const whys = plan.mounts.map((m) => m.why)
  const order = ['workspace', 'writable', 'ancestor', 'protected', 'secret']
  const ranks = whys.map((w) => order.indexOf(w === 'workspace' ? 'writable' : w))
  t.same(ranks, [...ranks].sort((a, b) => a - b), 'never a writable mount after a protected or secret one')
  t.match(find(plan.mounts, `${HOME}/.cache/x`), { op: 'bind', why: 'writable' })
})

t.test('a missing .git is covered whole: one stub, and the agent cannot plant hooks', async (t) => {
  const plan = planSandbox({ workspace: WS, home: HOME }, fakeProbe([`${WS}/README.md`]))
  t.match(find(plan.mounts, `${WS}/.git`), { op: 'cover-dir', mode: '0555' })
  t.equal(plan.mounts.filter((m) => m.path.startsWith(`${WS}/.git/`)).length, 0, 'nothing below it')
  t.equal(plan.stubs.filter((p) => p.includes('.git')).length, 1)
})

t.test("a worktree's .git file is itself protected", async (t) => {
  const plan = planSandbox({ workspace: WS, home: HOME }, fakeProbe([`${WS}/.git`]))
  t.match(find(plan.mounts, `${WS}/.git`), { op: 'ro-bind', why: 'protected' })
})

t.test('symlinks: a committed .env pointing at a key covers the key itself', async (t) => {
  const probe = fakeProbe([...base, `${HOME}/keys/deploy`], { [`${WS}/.env`]: `${HOME}/keys/deploy`, [`${WS}/dangling/.env`]: '/nowhere' })
  const plan = planSandbox({ workspace: WS, home: HOME }, probe)
  t.match(find(plan.mounts, `${HOME}/keys/deploy`), { op: 'cover-file', why: 'secret' }, 'the target is covered (opening the link follows into the cover)')
  t.equal(find(plan.mounts, '/nowhere'), undefined, 'a dangling link needs nothing')
  const inSsh = planSandbox({ workspace: WS, home: HOME }, fakeProbe(base, { [`${WS}/.env`]: `${HOME}/.ssh/id_ed25519` }))
  t.equal(find(inSsh.mounts, `${HOME}/.ssh/id_ed25519`), undefined, 'a target inside a covered dir needs no mount of its own (bwrap could not make one)')
  t.match(find(inSsh.mounts, `${HOME}/.ssh`), { op: 'cover-dir', mode: '0000' })
})

t.test('user and admin additions', async (t) => {
  const probe = fakeProbe([...base, `${WS}/Makefile`, `${WS}/secrets/prod.pem`, '/etc/guarded/admin.token', `${WS}/deploy/`])
  const plan = planSandbox({
    workspace: WS, home: HOME, protect: ['Makefile', 'ci/'], pinnedProtect: ['deploy/'],
    denyRead: ['**/*.pem', '/etc/guarded/admin.token'], secretFiles: ['/etc/guarded/admin.token'],
  }, probe)
  t.match(find(plan.mounts, `${WS}/Makefile`), { op: 'ro-bind', why: 'protected' }, '--protect FILE')
  t.match(find(plan.mounts, `${WS}/ci`), { op: 'cover-dir' }, '--protect DIR/ that does not exist yet')
  t.match(find(plan.mounts, `${WS}/deploy`), { op: 'ro-bind' }, 'admin-pinned path')
  t.match(find(plan.mounts, `${WS}/secrets/prod.pem`), { op: 'cover-file', why: 'secret' }, '--deny-read glob')
  t.equal(plan.mounts.filter((m) => m.path === '/etc/guarded/admin.token').length, 1, 'the admin token is hidden once')
})

t.test('profile paths: missing directories are created, missing files skipped with a warning', async (t) => {
  const profile: Profile = { name: 'claude', commands: ['claude'], writable: ['~/.claude/', '~/.claude.json'], keepEnv: [], allowHosts: [], source: 'x' }
  const plan = planSandbox({ workspace: WS, home: HOME, profile }, fakeProbe(base))
  t.same(plan.createDirs, [`${HOME}/.claude`])
  t.match(find(plan.mounts, `${HOME}/.claude`), { op: 'bind', why: 'writable' })
  t.match(plan.warnings, [/\.claude\.json does not exist/])
})

t.test('flags and limits', async (t) => {
  t.equal(planSandbox({ workspace: WS, home: HOME, noSandbox: true }, fakeProbe(base)).sandboxed, false, '--no-sandbox is visible in the plan')
  t.equal(planSandbox({ workspace: WS, home: HOME, interactive: true }, fakeProbe(base)).newSession, false, 'a terminal keeps its session')
  t.equal(planSandbox({ workspace: WS, home: HOME }, fakeProbe(base)).proxyPort, 3128)
  t.match(planSandbox({ workspace: WS, home: HOME, scanLimit: 1 }, fakeProbe(base)).warnings, [/scan stopped after 1/])
  t.throws(() => planSandbox({ workspace: 'proj', home: HOME }, fakeProbe(base)), /GUARDED_BAD_PATH/)
  t.throws(() => parsePathEntry('../x'), /GUARDED_BAD_PROTECT/)
  t.throws(() => parsePathEntry('/etc/x'), /GUARDED_BAD_PROTECT/)
  t.same(parsePathEntry('a/b/'), { path: 'a/b', kind: 'dir', coverMissing: true })
})
