import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { loadPolicy } from '../../policy/load.js'
import { discoverLayers } from '../../proxy/policy-files/discover-layers.js'
import type { PolicyRoots } from '../../proxy/policy-files/policy-roots.js'
import { readLayers } from '../../proxy/policy-files/read-layers.js'
import { projectTrust, trustNotice, trustProject } from '../../proxy/policy-files/trust-store.js'
import { tempDir } from '../helpers/temp-dir.js'

/** A fake machine: /etc/guarded, ~/.config/guarded and a repository with a project policy, all under a temp dir. */
async function machine(t: { teardown(fn: () => unknown): void }) {
  const root = await tempDir(t, 'guarded-layers-')
  const roots: PolicyRoots = { systemDir: join(root, 'etc'), configDir: join(root, 'config'), cwd: join(root, 'repo', 'src') }
  await mkdir(roots.systemDir, { recursive: true })
  await mkdir(roots.configDir, { recursive: true })
  await mkdir(join(root, 'repo', '.guarded'), { recursive: true })
  await mkdir(roots.cwd, { recursive: true })
  await writeFile(join(roots.systemDir, 'policy.yaml'), 'version: 1\ndefault: deny\nallow: [github.com]\n')
  await writeFile(join(roots.configDir, 'policy.yaml'), 'version: 1\nallow: [gitlab.com]\n')
  const projectFile = join(root, 'repo', '.guarded', 'policy.yaml')
  await writeFile(projectFile, 'version: 1\nallow: [registry.example]\n')
  void t
  return { root, roots, repo: join(root, 'repo'), projectFile }
}

const layersOf = async (roots: PolicyRoots) => (await discoverLayers({ explicit: [] }, roots)).files.map((f) => f.layer)

t.test('an untrusted project layer is found but not loaded, and the user is told why', async (t) => {
  const { roots, projectFile } = await machine(t)
  const layers = await discoverLayers({ explicit: [] }, roots)
  t.same(layers.files.map((f) => f.layer), ['system', 'user'])
  t.equal(layers.project?.status, 'untrusted')
  t.same(layers.notices, [`the project policy ${projectFile} is not trusted, so it is not loaded: review it, then run \`guarded-run trust\` (or \`guarded-proxy policy trust ${layers.project?.dir}\`)`])
})

t.test('trusting records the directory and the SHA-256; the project layer then loads', async (t) => {
  const { roots, repo } = await machine(t)
  const trusted = await trustProject(repo, roots, new Date('2025-01-02T03:04:05Z'))
  t.equal(trusted.status, 'trusted')
  const store = JSON.parse(await readFile(join(roots.configDir, 'trusted-projects.json'), 'utf8')) as { projects: Record<string, { sha256: string }> }
  t.same(Object.values(store.projects), [{ sha256: trusted.sha256, trusted_at: '2025-01-02T03:04:05.000Z' }])
  t.equal((await stat(join(roots.configDir, 'trusted-projects.json'))).mode & 0o777, 0o600, 'the store is private to the user')
  t.same(await layersOf(roots), ['system', 'user', 'project'])
  const policy = loadPolicy((await readLayers({ explicit: [] }, roots)).sources)
  t.same(policy.rules.map((r) => [r.pattern, r.layer]), [['github.com', 'system'], ['gitlab.com', 'user'], ['registry.example', 'project']])
})

t.test('an edit makes the project untrusted again until it is re-trusted', async (t) => {
  const { roots, repo, projectFile } = await machine(t)
  await trustProject(repo, roots, new Date())
  await writeFile(projectFile, 'version: 1\nallow: [registry.example, exfil.example]\n')
  const changed = await projectTrust(repo, roots)
  t.equal(changed.status, 'changed')
  t.match(trustNotice(changed), /changed since you trusted it \(sha256 [0-9a-f]{12} → [0-9a-f]{12}\), so it is not loaded/)
  t.same(await layersOf(roots), ['system', 'user'], 'the edited file is not loaded')
  await trustProject(repo, roots, new Date())
  t.same(await layersOf(roots), ['system', 'user', 'project'], 're-trusted, it loads again')
})

t.test('--policy replaces discovery; requirements bound either way; decisions sit above the files', async (t) => {
  const { roots, root } = await machine(t)
  await writeFile(join(roots.systemDir, 'requirements.yaml'), 'version: 1\nblock: [gitlab.com]\n')
  const explicit = join(root, 'mine.yaml')
  const decisions = join(root, 'decisions.yaml')
  await writeFile(explicit, 'version: 1\nallow: [gitlab.com]\n')
  await writeFile(decisions, 'version: 1\nallow: ["x.example:443"]\n')
  const read = await readLayers({ explicit: [explicit], decisionsFile: decisions, allow: ['cli.example'], block: ['*.bad.example'] }, roots)
  t.same(read.sources.map((s) => s.layer), ['cli', 'decisions', 'cli', 'requirements'])
  const policy = loadPolicy(read.sources)
  t.match(policy.clamps, [{ requirement: 'block', message: /allow 'gitlab.com' has no effect/ }])
  t.ok(policy.rules.some((r) => r.pattern === 'cli.example' && r.source.file === '(command line)'), '--allow is a rule of the command-line layer')
  t.rejects(discoverLayers({ explicit: [], requirementsFile: join(root, 'missing.yaml') }, roots), /no such file/, 'a named requirements file must exist')
})

t.test('a corrupt trust store trusts nothing', async (t) => {
  const { roots, repo } = await machine(t)
  await writeFile(join(roots.configDir, 'trusted-projects.json'), '{not json')
  t.equal((await projectTrust(repo, roots)).status, 'untrusted')
})

t.test('a launcher overlay adds to the discovered layers instead of replacing them', async (t) => {
  const { roots, root } = await machine(t)
  const overlay = join(root, 'run-overlay.yaml')
  await writeFile(overlay, 'version: 1\nallow: [profile.example]\n')
  const layers = await discoverLayers({ explicit: [], overlays: [overlay] }, roots)
  t.same(layers.files.map((f) => f.layer), ['system', 'user', 'cli'], 'system and user stay; the overlay is cli')
})
