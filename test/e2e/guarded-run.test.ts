// guarded-run end to end: the built, bundled CLI (dist/run/guarded-run.js) under real bwrap,
// its in-process proxy, loopback origins (a plain one and a git smart-HTTP one),
// real curl and git inside the sandbox. Each test names what the run must do and
// checks it from outside: the origin's hits, the audit log, the runtime dir.
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startServe } from '../helpers/run-cli.js'
import { initCa } from '../../certs/index.js'

const CLI = fileURLToPath(new URL('../../dist/run/guarded-run.js', import.meta.url))
const GIT_HTTP_BACKEND = '/usr/lib/git-core/git-http-backend'

const missing = [
  process.platform !== 'linux' && 'Linux',
  spawnSync('bwrap', ['--unshare-user', '--unshare-net', '--ro-bind', '/', '/', 'true']).status !== 0 && 'bwrap with user namespaces',
  !existsSync(CLI) && 'a build (npm run build)',
  !existsSync(GIT_HTTP_BACKEND) && 'git-http-backend (the git package)',
].filter(Boolean)
if (missing.length > 0) {
  t.plan(0, `needs ${missing.join(', ')}`)
  process.exit(0)
}
// A dozen real sandboxes, each a few hundred ms on an idle machine and seconds on a busy one.
t.setTimeout(600_000)

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

// Fixtures live under /var/tmp: the sandbox gives /tmp a private tmpfs.
const root = mkdtempSync('/var/tmp/guarded-run-e2e-')
t.teardown(() => rmSync(root, { recursive: true, force: true }))
const dirs = { home: join(root, 'home'), ws: join(root, 'ws'), runtime: join(root, 'runtime'), tmp: join(root, 'tmp'), repos: join(root, 'repos') }
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true })
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dirs.home, XDG_RUNTIME_DIR: dirs.runtime, TMPDIR: dirs.tmp, LANG: 'C' }
const RUNTIME = join(dirs.runtime, 'guarded')

let origin: { port: number; hits: () => number }
let gitPort: number
let policy: string
let pins: string[]

t.before(async () => {
  origin = await startOrigin()
  gitPort = await startGitOrigin()
  policy = join(root, 'policy.yaml')
  writeFileSync(policy, [
    'version: 1', 'default: deny',
    'allow:', `  - origin.test:${origin.port}`, `  - git.test:${gitPort}`,
    'block:', '  - "blocked.test:*"',
    'allow_private:', '  - 127.0.0.1/32', '',
  ].join('\n'))
  pins = ['--policy', policy, '--resolve', 'origin.test=127.0.0.1', '--resolve', 'git.test=127.0.0.1', '--resolve', 'blocked.test=127.0.0.1']
})

const url = (host: string): string => `http://${host}:${host === 'git.test' ? gitPort : origin.port}/`

t.test('an allowed host: curl in the sandbox gets the origin\'s body, exit 0, and nothing on stderr', async (t) => {
  const hits = origin.hits()
  const r = await guardedRun([...pins, '--', 'curl', '-sS', '--max-time', '10', url('origin.test')])
  t.equal(r.stdout, 'origin says hi\n')
  t.equal(r.stderr, '', 'a normal run prints nothing of its own')
  t.match(r, { code: 0, signal: null })
  t.equal(origin.hits(), hits + 1)
})

t.test('a blocked host: curl gets a 403 whose body names the rule, and the origin sees nothing', async (t) => {
  const hits = origin.hits()
  const r = await guardedRun([...pins, '--', 'curl', '-sS', '--max-time', '10', '-w', '%{http_code}\n', url('blocked.test')])
  t.match(r.stdout, /refused blocked\.test/)
  t.match(r.stdout, /rule: blocked\.test:\* \(.*policy\.yaml:\d+\)/)
  t.match(r.stdout, /\n403\n$/)
  t.equal(origin.hits(), hits)
})

t.test('--summary prints exactly one line of counts', async (t) => {
  const script = `curl -s -o /dev/null ${url('origin.test')}; curl -s -o /dev/null ${url('blocked.test')}; curl -s -o /dev/null ${url('other.test')}`
  const r = await guardedRun([...pins, '--summary', '--', 'sh', '-c', script])
  t.equal(r.stderr, 'guarded-run: 1 allowed, 2 denied, 0 parked\n')
  t.equal(r.code, 0)
})

t.test('the agent\'s exit code passes through', async (t) => {
  t.match(await guardedRun([...pins, '--', 'sh', '-c', 'exit 7']), { code: 7, signal: null, stderr: '' })
})

t.test('an agent killed by SIGTERM: guarded-run dies of SIGTERM too (a shell reports 143)', async (t) => {
  t.match(await guardedRun([...pins, '--', 'sh', '-c', 'kill -TERM $$']), { code: null, signal: 'SIGTERM' })
})

t.test('SIGTERM to guarded-run ends the agent and guarded-run, and still tears down', async (t) => {
  // Signalled once the agent runs: bwrap sets its die-with-parent only after it forked,
  // so a SIGTERM in bwrap's first milliseconds can orphan the sandbox (see the report).
  const child = spawnRun([...pins, '--', 'sh', '-c', 'touch started; exec sleep 30'])
  t.ok(await waitFor(() => existsSync(join(dirs.ws, 'started')) || undefined), 'the agent is running')
  rmSync(join(dirs.ws, 'started'))
  child.kill('SIGTERM')
  const r = await child.done
  t.match(r, { signal: 'SIGTERM' })
  t.same(discoveryFiles(), [], 'discovery file removed')
  t.same(readdirSync(dirs.tmp), [], 'temp dir removed')
})

t.test('the audit log holds the run\'s session and its decisions', async (t) => {
  const log = join(root, 'audit.jsonl')
  const r = await guardedRun([...pins, '--audit-log', log, '--', 'curl', '-s', '-o', '/dev/null', url('origin.test')])
  t.equal(r.code, 0, r.stderr)
  const records = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  const sessions = new Set(records.map((rec) => rec['session.id']))
  t.equal(sessions.size, 1, 'one session for the whole run')
  t.match([...sessions][0], /^run-[0-9a-f]{12}$/)
  t.match(records, [{ type: 'decision', 'server.address': 'origin.test', 'guarded.verdict': 'allow' }])
})

t.test('the default audit log is <runtime dir>/runs/SESSION.jsonl', async (t) => {
  const before = new Set(readdirSync(join(RUNTIME, 'runs')))
  await guardedRun([...pins, '--', 'curl', '-s', '-o', '/dev/null', url('origin.test')])
  const added = readdirSync(join(RUNTIME, 'runs')).filter((f) => !before.has(f))
  t.equal(added.length, 1)
  const session = added[0]?.replace(/\.jsonl$/, '')
  t.match(readFileSync(join(RUNTIME, 'runs', added[0] ?? ''), 'utf8'), `"session.id":"${session}"`)
})

t.test('git clone over https-style smart HTTP from a git http-backend origin works through the proxy', async (t) => {
  const r = await guardedRun([...pins, '--', 'git', 'clone', '-q', `${url('git.test')}demo.git`, 'cloned'])
  t.equal(r.code, 0, r.stderr)
  t.equal(readFileSync(join(dirs.ws, 'cloned', 'hello.txt'), 'utf8'), 'hello from git\n')
  rmSync(join(dirs.ws, 'cloned'), { recursive: true, force: true })
})

t.test('the discovery file exists during the run, names a live admin API, and is removed after', async (t) => {
  const child = spawnRun([...pins, '--', 'sleep', '3'])
  const file = await waitFor(() => discoveryFiles().find((f) => f === `${child.pid}.json`))
  const entry = JSON.parse(readFileSync(join(RUNTIME, 'proxies', file ?? ''), 'utf8')) as { admin_url: string; token_file: string; label: string }
  t.match(entry.label, /^guarded-run run-[0-9a-f]{12}$/)
  t.equal(await status(`${entry.admin_url}/healthz`), 200, 'the admin API answers')
  t.ok(existsSync(entry.token_file), 'the admin token file exists during the run')
  const r = await child.done
  t.equal(r.code, 0, r.stderr)
  t.same(discoveryFiles(), [], 'discovery file removed')
  t.notOk(existsSync(entry.token_file), 'admin token file removed')
  t.equal(await status(`${entry.admin_url}/healthz`), 'ECONNREFUSED', 'nothing listens on the admin port any more')
})

t.test('the runtime dir (admin token, discovery files, audit logs) is unreadable in the sandbox', async (t) => {
  const r = await guardedRun([...pins, '--', 'sh', '-c', `ls ${RUNTIME}; ls ${join(RUNTIME, 'proxies')}`])
  t.not(r.code, 0)
  t.match(r.stderr, /Permission denied/)
})

t.test('--proxy URL: a running proxy and the session its credentials name', async (t) => {
  const token = join(root, 'serve-admin.token')
  writeFileSync(token, 'x'.repeat(32), { mode: 0o600 })
  const serve = await startServe(t, ['--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--auth', 'required',
    '--resolve', 'origin.test=127.0.0.1', '--admin-token-file', token], { ...ENV, XDG_RUNTIME_DIR: join(root, 'serve-runtime') })
  const session = await createSession(serve.adminUrl, 'x'.repeat(32))
  const hits = origin.hits()
  const r = await guardedRun(['--proxy', session.proxy_url, '--', 'sh', '-c', `curl -sS ${url('origin.test')} && printenv HTTP_PROXY`])
  t.equal(r.code, 0, r.stderr)
  const [body, proxyVar] = r.stdout.split('origin says hi\n')
  t.equal(body, '', 'the origin answered')
  t.equal(proxyVar, `http://${session.id}:${session.token}@127.0.0.1:3128\n`, 'the trade-off: credentials are visible to the agent')
  t.equal(origin.hits(), hits + 1)
  const refused = await guardedRun(['--proxy', `http://127.0.0.1:${new URL(session.proxy_url).port}`, '--', 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', url('origin.test')])
  t.equal(refused.stdout, '407', 'without credentials that proxy refuses: the relay adds none')
})

t.test('a policy that inspects: the agent trusts the inspection CA through one bundle and the usual variables', async (t) => {
  const ca = await initCa(join(dirs.home, '.config', 'guarded', 'ca'), { validityDays: 2 })
  const inspecting = join(root, 'inspecting.yaml')
  writeFileSync(inspecting, ['version: 1', 'default: deny', 'allow:', '  - host: api.inspected.test', '    inspect: true', ''].join('\n'))
  const script = 'for v in SSL_CERT_FILE NODE_EXTRA_CA_CERTS REQUESTS_CA_BUNDLE CURL_CA_BUNDLE GIT_SSL_CAINFO PIP_CERT; do eval "echo $v=\\$$v"; done; cat "$SSL_CERT_FILE"'
  const run = await guardedRun(['--policy', inspecting, '--', 'sh', '-c', script])
  t.equal(run.code, 0, run.stderr)
  const bundle = /^SSL_CERT_FILE=(\S+)$/m.exec(run.stdout)?.[1]
  t.ok(bundle, 'SSL_CERT_FILE names the bundle')
  for (const v of ['NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'PIP_CERT']) t.match(run.stdout, `${v}=${bundle}`, `${v} points at the same bundle`)
  t.ok(run.stdout.includes(ca.pem.trim()), 'the bundle, read inside the sandbox, holds our CA')
  t.notOk(existsSync(bundle!), 'the bundle is removed after the run')
})

t.test('a bad policy: the sandbox that was already starting is called off, the agent never runs, exit 125', async (t) => {
  const bad = join(root, 'bad-policy.yaml')
  writeFileSync(bad, 'version: 2\n')
  const r = await guardedRun(['--policy', bad, '--', 'sh', '-c', 'echo ran > agent-ran.txt'])
  t.equal(r.code, 125, r.stderr)
  t.match(r.stderr, /invalid policy/)
  t.notOk(existsSync(join(dirs.ws, 'agent-ran.txt')), 'the agent never ran')
})

t.test('teardown leaves no temp files, tokens or discovery files behind', async (t) => {
  t.same(readdirSync(dirs.tmp), [], 'TMPDIR: the run dirs (socket, overlay) are gone')
  t.same(discoveryFiles(), [])
  t.same(readdirSync(RUNTIME).sort(), ['proxies', 'runs'], 'no admin-token-* left in the runtime dir')
  t.same(readdirSync(dirs.ws).sort(), [], 'no stubs left in the workspace')
})

function guardedRun(args: readonly string[]): Promise<Run> {
  return spawnRun(args).done
}

function spawnRun(args: readonly string[]): { pid: number; kill(sig: NodeJS.Signals): void; done: Promise<Run> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dirs.ws, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<Run>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { pid: child.pid ?? -1, kill: (sig) => child.kill(sig), done }
}

function discoveryFiles(): string[] {
  const dir = join(RUNTIME, 'proxies')
  return existsSync(dir) ? readdirSync(dir) : []
}

async function waitFor<T>(probe: () => T | undefined, ms = 15_000): Promise<T | undefined> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const value = probe()
    if (value !== undefined) return value
  }
  return undefined
}

function status(target: string): Promise<number | string> {
  return new Promise((resolve) => {
    httpRequest(target, (res) => { res.resume(); resolve(res.statusCode ?? 0) }).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message)).end()
  })
}

async function createSession(adminUrl: string, token: string): Promise<{ id: string; token: string; proxy_url: string }> {
  const res = await fetch(`${adminUrl}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' })
  return (await res.json()) as { id: string; token: string; proxy_url: string }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return (server.address() as AddressInfo).port
}

async function startOrigin(): Promise<{ port: number; hits: () => number }> {
  let hits = 0
  const port = await listen(createServer((_req, res) => { hits++; res.end('origin says hi\n') }))
  return { port, hits: () => hits }
}

/** A bare repo served by git-http-backend through a small CGI bridge (RFC 3875). */
async function startGitOrigin(): Promise<number> {
  const work = join(root, 'repo-src')
  const git = (...args: string[]): void => void execFileSync('git', args, { cwd: work, env: { ...ENV, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } })
  mkdirSync(work)
  git('init', '-q')
  writeFileSync(join(work, 'hello.txt'), 'hello from git\n')
  git('add', 'hello.txt')
  git('commit', '-qm', 'hello')
  execFileSync('git', ['clone', '-q', '--bare', work, join(dirs.repos, 'demo.git')])
  return listen(createServer((req, res) => cgi(req, res)))
}

function cgi(req: IncomingMessage, res: ServerResponse): void {
  const target = new URL(req.url ?? '/', 'http://git.test')
  const child = spawn(GIT_HTTP_BACKEND, [], {
    env: {
      GIT_PROJECT_ROOT: dirs.repos, GIT_HTTP_EXPORT_ALL: '1', REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: target.pathname, QUERY_STRING: target.search.slice(1), CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: '127.0.0.1', HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '', GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
    },
  })
  req.pipe(child.stdin)
  let head = Buffer.alloc(0)
  let headDone = false
  child.stdout.on('data', (chunk: Buffer) => {
    if (headDone) return void res.write(chunk)
    head = Buffer.concat([head, chunk])
    const end = head.indexOf('\r\n\r\n')
    if (end < 0) return
    headDone = true
    const headers = head.subarray(0, end).toString('latin1').split('\r\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as const)
    const statusLine = headers.find(([k]) => k.toLowerCase() === 'status')?.[1] ?? '200'
    res.writeHead(Number(statusLine.split(' ')[0]), Object.fromEntries(headers.filter(([k]) => k.toLowerCase() !== 'status')))
    res.write(head.subarray(end + 4))
  })
  child.on('close', () => res.end())
}
