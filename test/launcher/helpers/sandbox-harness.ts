// Real processes under real bwrap: a fake HOME and workspace under /var/tmp
// (the sandbox gives /tmp a private tmpfs, so fixtures there would be invisible
// and every "cannot read" test would pass for the wrong reason), a loopback
// origin, a proxy on a Unix socket, and a runner that captures the agent's output.
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http'
import { connect } from 'node:net'
import { dirname, join } from 'node:path'
import ts from 'typescript'
import { buildChildEnv, defaultPreloadPath } from '../../../launcher/child-env.js'
import { runSandboxed, type RunResult } from '../../../launcher/run-sandboxed.js'
import { planSandbox, type SandboxOptions, type SandboxPlan } from '../../../launcher/sandbox-plan.js'

/** The bits of tap's Test the harness uses. */
export interface T {
  teardown(fn: () => void | Promise<void>): void
}

/** A fake user: HOME with planted secrets, a git workspace with a committed .env. */
export interface Fixture {
  readonly root: string
  readonly home: string
  readonly workspace: string
  /** Where the proxy socket lives on the host, alone in its directory. */
  readonly socket: string
}

const REPO = new URL('../../../', import.meta.url).pathname

/** Whether this machine can run the real-bwrap battery at all. */
export function bwrapUsable(): boolean {
  const r = spawnSync('bwrap', ['--unshare-user', '--unshare-net', '--ro-bind', '/', '/', 'true'])
  return r.status === 0
}

/** Transpile sandbox-init.ts and forwarder.ts to a temp dir (fast, and independent of the rest of the repo building). */
export function compileInit(t: T): string {
  const dir = mkdtempSync('/var/tmp/guarded-init-')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const name of ['sandbox-init', 'forwarder']) {
    const source = readFileSync(join(REPO, 'launcher', `${name}.ts`), 'utf8')
    const out = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 }, fileName: `${name}.ts` })
    writeFileSync(join(dir, `${name}.js`), out.outputText)
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  return join(dir, 'sandbox-init.js')
}

/** Make the fake user. Secrets hold the word SECRET so a leak is easy to spot. */
export function makeFixture(t: T): Fixture {
  const root = mkdtempSync('/var/tmp/guarded-test-')
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const home = join(root, 'home')
  const workspace = join(root, 'ws')
  for (const d of [join(home, '.ssh'), join(home, '.aws'), join(workspace, '.git', 'hooks'), join(root, 'run')]) mkdirSync(d, { recursive: true })
  writeFileSync(join(home, '.ssh', 'id_ed25519'), 'SECRET-ssh-key\n')
  writeFileSync(join(home, '.aws', 'credentials'), '[default]\naws_secret_access_key = SECRET-aws\n')
  writeFileSync(join(workspace, '.env'), 'API_TOKEN=SECRET-dotenv\n')
  writeFileSync(join(workspace, '.git', 'config'), '[core]\n\tbare = false\n')
  writeFileSync(join(workspace, 'README.md'), 'hello\n')
  return { root, home, workspace, socket: join(root, 'run', 'proxy.sock') }
}

/** A loopback HTTP origin that answers every request with `origin says hi`. */
export async function startOrigin(t: T): Promise<{ port: number; hits: () => number }> {
  let hits = 0
  const server = createHttpServer((_req, res) => { hits++; res.end('origin says hi\n') })
  await listen(server, { port: 0, host: '127.0.0.1' })
  t.teardown(() => close(server))
  return { port: portOf(server), hits: () => hits }
}

/** The name the battery uses for the loopback origin; the proxy resolves it (the real one via `--resolve`). */
export const ORIGIN_HOST = 'origin.test'

/**
 * A stand-in for the lead's proxy, only to prove the forwarder path carries bytes:
 * absolute-form requests and CONNECT to `origin.test` (resolved to 127.0.0.1), on a Unix socket.
 */
export async function startStandInProxy(t: T, socket: string): Promise<{ seen: string[] }> {
  const seen: string[] = []
  const server = createHttpServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    const url = new URL(req.url ?? '/')
    if (url.hostname !== ORIGIN_HOST) return void res.writeHead(403).end(`stand-in proxy: only ${ORIGIN_HOST}\n`)
    const up = httpRequest({ host: '127.0.0.1', port: url.port, path: url.pathname, method: req.method }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.writeHead(502).end())
    req.pipe(up)
  })
  server.on('connect', (req, client) => {
    seen.push(`CONNECT ${req.url}`)
    const [host, port] = (req.url ?? '').split(':')
    if (host !== ORIGIN_HOST) return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n')
    const up = connect(Number(port), '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      up.pipe(client)
      client.pipe(up)
    })
    up.on('error', () => client.destroy())
    client.on('error', () => up.destroy())
  })
  await listen(server, { path: socket })
  t.teardown(() => close(server))
  return { seen }
}

/** What one sandboxed run printed and how it ended. */
export interface Outcome extends RunResult {
  readonly stdout: string
  readonly stderr: string
  readonly plan: SandboxPlan
}

/** Run `sh -c script` in the sandbox for `fx`, capturing output. */
export async function runScript(t: T, fx: Fixture, script: string, opts: Partial<SandboxOptions> & { initScript: string; seccomp?: Buffer; env?: Record<string, string> }): Promise<Outcome> {
  const plan = planSandbox({ workspace: fx.workspace, home: fx.home, ...opts })
  const env = buildChildEnv({ PATH: process.env.PATH, HOME: fx.home, LANG: 'C', ...opts.env }, { proxyPort: plan.proxyPort, keepEnv: [], preloadPath: defaultPreloadPath() })
  const outFile = join(fx.root, `out-${Math.random().toString(36).slice(2)}`)
  const [out, err] = [openSync(`${outFile}.1`, 'w'), openSync(`${outFile}.2`, 'w')]
  try {
    const result = await runSandboxed(plan, ['sh', '-c', script], {
      proxyDir: dirname(fx.socket), env, initScript: opts.initScript, stdio: ['ignore', out, err],
      ...(opts.seccomp === undefined ? {} : { seccomp: opts.seccomp }),
    })
    return { ...result, stdout: readFileSync(`${outFile}.1`, 'utf8'), stderr: readFileSync(`${outFile}.2`, 'utf8'), plan }
  } finally {
    closeSync(out)
    closeSync(err)
  }
}

function listen(server: Server, where: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(where, () => resolve())
  })
}

function close(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

function portOf(server: Server): number {
  const a = server.address()
  if (a === null || typeof a === 'string') throw new Error('not a TCP server')
  return a.port
}

/** The lead's proxy, built: `npm run build` makes it. */
export const REAL_PROXY_CLI = join(REPO, 'dist', 'proxy', 'cli.js')

/**
 * The real proxy on the run's Unix socket: allows only origin.test on the origin's
 * port, pinned to 127.0.0.1 with --resolve (so no DNS), and loopback allowed as private.
 */
export async function startRealProxy(t: T, fx: Fixture, originPort: number): Promise<void> {
  const policy = join(fx.root, 'policy.yaml')
  writeFileSync(adminTokenPath(fx), 'SECRET-admin-token\n', { mode: 0o600 })
  writeFileSync(policy, `version: 1\ndefault: deny\nallow:\n  - ${ORIGIN_HOST}:${originPort}\nallow_private:\n  - 127.0.0.1/32\n`)
  const child = spawn(process.execPath, [REAL_PROXY_CLI, 'serve', '--policy', policy, '--listen', `unix:${fx.socket}`,
    '--admin', '127.0.0.1:0', '--resolve', `${ORIGIN_HOST}=127.0.0.1`, '--admin-token-file', adminTokenPath(fx)],
    // Its discovery file goes under the fixture, removed with it: a killed proxy cannot remove it itself.
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_RUNTIME_DIR: join(fx.root, 'runtime') } })
  t.teardown(() => new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  }))
  let output = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`real proxy did not start:\n${output}`)), 10_000)
    const onData = (d: Buffer): void => {
      output += d.toString()
      if (/guarded-proxy listening on/.test(output)) { clearTimeout(timer); resolve() }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`real proxy exited ${code}:\n${output}`)) })
  })
}

/** Where the fixture keeps the proxy's admin token (the battery plans it as a secret file). */
export function adminTokenPath(fx: Fixture): string {
  return join(fx.root, 'admin.token')
}
