// deploy/Dockerfile without a Docker engine: its own COPY, ENV and npm RUN lines are replayed in a
// clean copy of the repository, then its ENTRYPOINT + CMD start as UID 1337 in a throwaway network
// namespace and its HEALTHCHECK command must pass. The steps are parsed, so they cannot drift.
import t, { type Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { asUid, childEnv, makeNamespaces, netnsUnavailable, startIn } from './helpers/netns.js'

// Real namespaces, processes and builds on a 2-core machine: well past tap's default per-file timeout.
t.setTimeout(900_000)
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const DOCKERFILE = join(ROOT, 'deploy/Dockerfile')

/** One instruction, continuation lines joined. */
interface Instruction { readonly op: string; readonly args: string }

/** Parses a Dockerfile into instructions (comments and the syntax directive dropped). */
export function parseDockerfile(text: string): Instruction[] {
  return text.replace(/\\\n/g, ' ').split('\n')
    .map(line => line.trim()).filter(line => line !== '' && !line.startsWith('#'))
    .map(line => { const [op = '', ...rest] = line.split(/\s+/); return { op: op.toUpperCase(), args: rest.join(' ') } })
}

/** Replays the build stage by stage: each stage's root is a directory under `work`. */
function replay(t: Test, steps: Instruction[], context: string, work: string): { root: string; workdir: string; env: Record<string, string> } {
  const stages = new Map<string, string>()
  let root = '', workdir = '/', env: Record<string, string> = {}
  const inRoot = (p: string): string => join(root, p.startsWith('/') ? p : join(workdir, p))
  for (const { op, args } of steps) {
    if (op === 'FROM') {
      const name = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? `stage${stages.size}`
      root = join(work, name); workdir = '/'; env = {}
      mkdirSync(root, { recursive: true }); stages.set(name, root)
    } else if (op === 'WORKDIR') {
      workdir = args; mkdirSync(inRoot('.'), { recursive: true })
    } else if (op === 'ENV') {
      for (const m of args.matchAll(/(\w+)=(\S+)/g)) env[m[1]!] = m[2]!
    } else if (op === 'COPY') {
      copy(args, context, stages, inRoot)
    } else if (op === 'RUN') {
      run(t, args, inRoot('.'), env)
    }
  }
  return { root, workdir, env }
}

function copy(args: string, context: string, stages: Map<string, string>, inRoot: (p: string) => string): void {
  const words = args.split(/\s+/)
  const from = words.find(w => w.startsWith('--from='))?.slice('--from='.length)
  const mode = words.find(w => w.startsWith('--chmod='))?.slice('--chmod='.length)
  const paths = words.filter(w => !w.startsWith('--'))
  const dest = paths.pop() ?? ''
  const source = from === undefined ? context : stages.get(from)
  if (source === undefined) throw new Error(`COPY --from=${from}: no such stage`)
  for (const src of paths) {
    const target = dest.endsWith('/') ? join(inRoot(dest), src === '.' || src.endsWith('/') ? '' : src.split('/').pop()!) : inRoot(dest)
    mkdirSync(dirname(target), { recursive: true })
    cpSync(join(source, src), target, { recursive: true })
    if (mode !== undefined) chmodSync(target, parseInt(mode, 8))
  }
}

/** Runs a RUN line's npm commands (the build's substance); OS package steps are an image's business. */
function run(t: Test, args: string, cwd: string, env: Record<string, string>): void {
  for (const command of args.split('&&').map(c => c.trim())) {
    // npm ci and npm run are the build; apt-get and npm cache clean only shape the image's layers.
    if (!/^npm (ci|run)\b/.test(command)) { t.comment(`not replayed: ${command}`); continue }
    t.comment(`replaying in ${cwd}: ${command}`)
    const started = Date.now()
    execFileSync('bash', ['-c', command], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({ ...env, NODE_ENV: '' }) })
    t.pass(`${command} (${Date.now() - started}ms)`)
  }
}

/** The files a build context would hold: tracked and untracked, minus .gitignore and the .dockerignore. */
function makeContext(dest: string): void {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean)
  const ignored = readFileSync(join(ROOT, 'deploy/Dockerfile.dockerignore'), 'utf8').split('\n')
    .map(l => l.trim()).filter(l => l && !l.startsWith('#')).map(l => l.replace(/^\*/, ''))
  for (const file of files) {
    if (ignored.some(i => file === i || file.startsWith(`${i}/`) || (i.startsWith('.') && file.endsWith(i) && i.includes('log')))) continue
    if (!existsSync(join(ROOT, file))) continue
    mkdirSync(dirname(join(dest, file)), { recursive: true })
    cpSync(join(ROOT, file), join(dest, file))
  }
}

/** A JSON exec-form array. */
function execForm(args: string): string[] {
  return JSON.parse(args.slice(args.indexOf('['))) as string[]
}

const skip = netnsUnavailable() ?? false
t.test('the Dockerfile builds and its image answers its own HEALTHCHECK', { skip }, async t => {
  const steps = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'))
  const last = (op: string): string => [...steps].reverse().find(s => s.op === op)?.args ?? ''
  t.match(last('USER'), /^1337(:1337)?$/, 'runs as the fixed non-root UID 1337')
  t.match(last('ENTRYPOINT'), /dist\/proxy\/cli\.js", "serve"\]/, 'ENTRYPOINT is guarded-proxy serve')
  const cmd = execForm(last('CMD'))
  t.equal(cmd[cmd.indexOf('--policy') + 1], '/etc/guarded/policy.yaml', 'policy at the documented path')
  t.equal(cmd[cmd.indexOf('--requirements') + 1], '/etc/guarded/requirements.yaml', 'requirements at the documented path')
  t.notMatch(last('HEALTHCHECK'), /curl|wget/, 'healthcheck needs no curl')

  const work = mkdtempSync(join(tmpdir(), 'guarded-docker-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  chmodSync(work, 0o755)
  const context = join(work, 'context')
  makeContext(context)
  t.notOk(existsSync(join(context, 'node_modules')), 'the context holds no node_modules')
  const image = replay(t, steps, context, join(work, 'stages'))
  t.ok(existsSync(join(image.root, 'opt/guarded/dist/proxy/cli.js')), 'runtime stage holds dist')
  t.notOk(existsSync(join(image.root, 'opt/guarded/node_modules/typescript')), 'runtime stage has no dev dependencies')
  t.ok((statSync(join(image.root, 'usr/local/bin/guarded-egress-init')).mode & 0o111) !== 0, 'egress-init is executable')

  // The image root is root-owned and not writable by 1337, like a read-only root filesystem.
  const local = (p: string): string => (p.startsWith('/') && existsSync(join(image.root, p)) ? join(image.root, p) : p)
  const entry = execForm(last('ENTRYPOINT')).map(local)
  const help = spawnSync(process.execPath, [entry[1]!, 'serve', '--help'], { encoding: 'utf8' }).stdout
  for (const flag of cmd.filter((a) => a.startsWith('--'))) t.ok(help.includes(`${flag} `), `CMD flag ${flag} is one \`serve\` knows`)
  const argv = [...entry, ...cmd.map(local)]
  const ns = makeNamespaces(t)
  // The container's own /tmp (HOME and XDG_RUNTIME_DIR point there) is a directory under work, not the host's /tmp.
  const containerTmp = join(work, 'tmp')
  mkdirSync(containerTmp)
  chmodSync(containerTmp, 0o1777)
  const envArgs = Object.entries(image.env).map(([k, v]) => `${k}=${v === '/tmp' ? containerTmp : v}`)
  await startIn(t, ns.pod, [...asUid(1337), 'env', ...envArgs, process.execPath, ...argv.slice(1)], /guarded-proxy admin on/)
  const health = execForm(last('HEALTHCHECK'))
  const check = spawnSync('ip', ['netns', 'exec', ns.pod, ...asUid(1337), process.execPath, ...health.slice(1)], { env: childEnv() })
  t.equal(check.status, 0, 'HEALTHCHECK passes against the started image')
})

