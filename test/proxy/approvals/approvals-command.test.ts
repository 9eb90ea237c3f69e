/**
 * `guarded-proxy approvals` against a real `serve` child: discovery files, list/allow/deny by id prefix,
 * errors, and `watch` driven through a pseudo-terminal (script(1) from util-linux) with a real parked curl.
 */
import { spawn } from 'node:child_process'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startHttpOrigin } from '../../helpers/origins.js'
import { CLI, startServe, type ServeChild } from '../../helpers/run-cli.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { adminOf, curlVia, waitFor } from './admin.js'

const POLICY = `version: 1
default: ask
allow_private:
  - 127.0.0.0/8
`

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** A runtime directory of its own (so the test sees only its proxies) and a policy file. */
async function setup(t: Test): Promise<{ env: NodeJS.ProcessEnv; runtime: string; policy: string; cli: (...args: string[]) => Promise<Run> }> {
  const dir = await tempDir(t, 'guarded-approvals-cli-')
  const policy = join(dir, 'policy.yaml')
  await writeFile(policy, POLICY)
  const env = { ...process.env, XDG_RUNTIME_DIR: dir }
  const cli = (...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, 'approvals', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d))
      child.stderr.on('data', (d: Buffer) => (stderr += d))
      child.once('exit', (code) => resolve({ code, stdout, stderr }))
    })
  return { env, runtime: join(dir, 'guarded'), policy, cli }
}

/** `serve` with the CLI approver, parking what the policy does not know. */
function serve(t: Test, policy: string, env: NodeJS.ProcessEnv): Promise<ServeChild> {
  return startServe(t, ['--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--approver', 'cli', '--resolve', 'parked.test=127.0.0.1'], env)
}

t.test('a running proxy has a 0600 discovery file naming its admin URL and token file, removed when it stops', async (t) => {
  const { env, runtime, policy } = await setup(t)
  const proxy = await serve(t, policy, env)
  const file = join(runtime, 'proxies', `${proxy.child.pid}.json`)
  const entry = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
  t.match(entry, { pid: proxy.child.pid, admin_url: proxy.adminUrl, proxy_urls: [proxy.proxyUrl], label: 'serve', token_file: join(runtime, `admin-token-${proxy.child.pid}`) })
  t.ok(Date.parse(String(entry.started_at)) > Date.now() - 60_000, 'started_at is a recent timestamp')
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.equal((await stat(join(runtime, 'proxies'))).mode & 0o777, 0o700)
  proxy.child.kill('SIGTERM')
  t.match(await proxy.exited, { code: 0 })
  t.same(await readdir(join(runtime, 'proxies')), [], 'gone after a clean stop')
})

t.test('readers drop files of dead processes; with several live proxies they ask for --pid', async (t) => {
  const { env, runtime, policy, cli } = await setup(t)
  t.match(await cli('list'), { code: 1, stderr: /no running guarded proxy found in .*proxies; start one with guarded-proxy serve/ })
  const first = await serve(t, policy, env)
  const dead = spawn(process.execPath, ['-e', ''])
  await new Promise((resolve) => dead.once('exit', resolve))
  const stale = join(runtime, 'proxies', `${dead.pid}.json`)
  await writeFile(stale, JSON.stringify({ pid: dead.pid, admin_url: 'http://127.0.0.1:1', token_file: '/nonexistent', proxy_urls: [], started_at: new Date().toISOString(), label: 'crashed' }))
  t.match(await cli('list'), { code: 0, stdout: 'no pending approvals\n' }, 'the one live proxy is used')
  t.same(await readdir(join(runtime, 'proxies')), [`${first.child.pid}.json`], "the dead process's file was removed")

  const second = await serve(t, policy, env)
  const ambiguous = await cli('list')
  t.equal(ambiguous.code, 2)
  t.match(ambiguous.stderr, /several guarded proxies are running; choose one with --pid/)
  t.match(ambiguous.stderr, new RegExp(`--pid ${first.child.pid}  serve  admin ${first.adminUrl}`))
  t.match(ambiguous.stderr, new RegExp(`--pid ${second.child.pid}  serve  admin ${second.adminUrl}`))
  t.match(await cli('list', '--pid', String(second.child.pid)), { code: 0, stdout: 'no pending approvals\n' })
  t.match(await cli('list', '--pid', '1'), { code: 2, stderr: /no running guarded proxy matches --pid 1/ })
  const tokenFile = join(runtime, `admin-token-${first.child.pid}`)
  t.match(await cli('list', '--admin', first.adminUrl, '--token-file', tokenFile), { code: 0 }, 'or name one by admin URL and token file')
  t.match(await cli('list', '--admin', first.adminUrl, '--token-file', stale), { code: 1, stderr: /cannot read the admin token file/ })
})

t.test('list, allow and deny by id prefix release a parked curl; unknown ids and bad flags are clear errors', async (t) => {
  const { env, policy, cli } = await setup(t)
  const origin = await startHttpOrigin(t)
  const proxy = await serve(t, policy, env)
  const admin = await adminOf(proxy.adminUrl, JSON.parse(await readFile(join(env.XDG_RUNTIME_DIR!, 'guarded', 'proxies', `${proxy.child.pid}.json`), 'utf8')).token_file)
  const parked = curlVia(proxy.proxyUrl, origin.url('/1', 'parked.test'))
  const approval = await admin.waitForPending('parked.test')

  const table = await cli('list')
  t.equal(table.code, 0)
  const [header, row] = table.stdout.trimEnd().split('\n')
  t.match(header, /^ID\s+SESSION\s+PROMPT\s+HOST:PORT\s+WAITING\s+EXPIRES IN$/)
  t.match(row, new RegExp(`^${approval.id.slice(0, 8)}\\s+default\\s+-\\s+parked\\.test:${origin.port}\\s+1 for \\d+s\\s+(\\d+m)?\\d+s$`)) // 60 s left shows as 1m00s
  const json = JSON.parse((await cli('list', '--json')).stdout) as { pending: { id: string }[] }
  t.same(json.pending.map((a) => a.id), [approval.id])

  const allowed = await cli('allow', approval.id.slice(0, 6))
  t.match(allowed, { code: 0, stdout: `allowed parked.test:${origin.port} (once, session default, 1 waiting request released)\n` })
  t.match(await parked, { status: 200, body: 'origin saw GET /1 0' })
  t.match(await admin.recent(), [{ id: approval.id, decision: 'allow', scope: 'once', by: 'cli' }], 'recorded as decided by the CLI')

  const refused = curlVia(proxy.proxyUrl, origin.url('/2', 'parked.test'))
  const second = await admin.waitForPending('parked.test')
  t.match(await cli('deny', second.id.slice(0, 8), '--scope', 'session'), { code: 0, stdout: /^denied parked\.test:\d+ \(session/ })
  t.match(await refused, { status: 403, decision: 'approval-denied' })
  t.match(await curlVia(proxy.proxyUrl, origin.url('/3', 'parked.test')), { status: 403, decision: 'approval-denied' }, 'the session-scoped deny answers the next request at once')

  t.match(await cli('allow', 'ffffffff'), { code: 1, stderr: /no pending approval with an id starting "ffffffff" \(already settled, expired, or mistyped\)/ })
  t.match(await cli('allow'), { code: 2, stderr: /allow needs the id/ })
  t.match(await cli('allow', 'x', '--scope', 'forever'), { code: 2, stderr: /--scope forever: expected once, session or always/ })
  t.match(await cli('frobnicate'), { code: 2, stderr: /unknown subcommand "frobnicate"/ })
  t.equal(origin.seen.length, 1)
})

t.test('watch needs a terminal, and says so before looking for a proxy', async (t) => {
  const { cli } = await setup(t)
  t.match(await cli('watch'), { code: 2, stderr: /watch needs a terminal/ })
})

t.test('watch in a pseudo-terminal shows a parked request, its prompt made harmless, and `a` releases it', async (t) => {
  const { env, policy } = await setup(t)
  const origin = await startHttpOrigin(t)
  const proxy = await serve(t, policy, env)
  const tokenFile = join(env.XDG_RUNTIME_DIR!, 'guarded', `admin-token-${proxy.child.pid}`)
  const admin = await adminOf(proxy.adminUrl, tokenFile)
  // The agent controls its prompt text: a window-title OSC, a colour and a screen clear must not reach the terminal.
  const hostile = 'fix the build \x1b]0;owned\x07\x1b[31mRED\x1b[0m\x1b[2J\u202eevil'
  t.equal((await admin.call('PUT', '/v1/sessions/default/prompt', { id: 'p-1', text: hostile })).status, 200)

  const watch = spawn('script', ['-qfc', `${process.execPath} ${CLI} approvals watch`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
  t.teardown(() => void (watch.exitCode === null && watch.kill('SIGKILL')))
  let screen = ''
  watch.stdout.on('data', (d: Buffer) => (screen += d.toString('utf8')))
  const exited = new Promise<number | null>((resolve) => watch.once('exit', resolve))
  await waitFor(() => screen.includes('no pending approvals'), 'the empty view')

  const parked = curlVia(proxy.proxyUrl, origin.url('/watched', 'parked.test'))
  const approval = await admin.waitForPending('parked.test')
  await waitFor(() => screen.includes(`parked.test:${origin.port}`), 'the parked request on screen')
  t.match(screen, `> ${approval.id.slice(0, 8)}`, 'the newest approval is selected')
  t.match(screen, 'prompt (untrusted): fix the build RED\ufffdevil', 'the prompt text is shown, the bidi override as U+FFFD…')
  t.notMatch(screen, '\x1b]0;', '…without its title escape')
  t.notMatch(screen, '\x1b[31m', '…or its colour')
  t.notMatch(screen, '\u202e', '…or its bidi override')

  watch.stdin.write('a')
  t.match(await parked, { status: 200, body: 'origin saw GET /watched 0' }, 'one keystroke released the parked client')
  await waitFor(() => screen.includes(`allowed parked.test:${origin.port} (once) by cli`), 'the decision in the recent list')
  watch.stdin.write('q')
  t.equal(await exited, 0)
  t.ok(screen.endsWith('\x1b[?25h\x1b[?1049l'), 'the terminal is restored on quit')
})
