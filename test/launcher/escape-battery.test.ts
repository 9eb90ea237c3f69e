// The escape battery: real agents' tricks, run under real bwrap with the real
// seccomp filter. Every "must fail" row is paired with the proxied path working,
// so a sandbox that simply breaks everything would not pass.
// The proxy is the real one (dist/proxy/cli.js, after `npm run build`) when it is
// built, else a stand-in that only proves the forwarder carries bytes; the test
// names say which. GUARDED_TEST_STAND_IN_PROXY=1 forces the stand-in.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import {
  adminTokenPath, bwrapUsable, compileInit, makeFixture, ORIGIN_HOST, REAL_PROXY_CLI, runScript, startOrigin, startRealProxy, startStandInProxy, type Fixture, type Outcome,
} from './helpers/sandbox-harness.js'

if (process.platform !== 'linux' || !bwrapUsable()) {
  t.plan(0, 'needs Linux with bwrap and unprivileged user namespaces')
  process.exit(0)
}

// The pyenv shim needs the real HOME; the interpreter itself does not.
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim()

let fx: Fixture
let init: string
let origin: Awaited<ReturnType<typeof startOrigin>>
const REAL = existsSync(REAL_PROXY_CLI) && process.env.GUARDED_TEST_STAND_IN_PROXY !== '1'
const PROXY = REAL ? 'real proxy' : 'stand-in proxy'

t.before(async () => {
  init = compileInit(t)
  fx = makeFixture(t)
  mkdirSync(join(fx.workspace, 'config'))
  symlinkSync(join(fx.home, '.ssh', 'id_ed25519'), join(fx.workspace, 'config', '.env')) // a committed .env -> ~/.ssh/id_ed25519
  symlinkSync(join(fx.home, '.ssh', 'id_ed25519'), join(fx.workspace, 'innocent.txt')) // same, under a harmless name
  origin = await startOrigin(t)
  writeFileSync(adminTokenPath(fx), 'SECRET-admin-token\n', { mode: 0o600 })
  if (REAL) await startRealProxy(t, fx, origin.port)
  else await startStandInProxy(t, fx.socket)
})

const run = (script: string): Promise<Outcome> => runScript(t, fx, script, { initScript: init, secretFiles: [adminTokenPath(fx)] })
const py = (code: string): string => `${PYTHON} -c '${code}'`
const originUrl = (): string => `http://${ORIGIN_HOST}:${origin.port}/`

t.test(`positive (${PROXY}): curl through the forwarder reaches the loopback origin`, async (t) => {
  const hits = origin.hits()
  const r = await run(`curl -sS --max-time 5 ${originUrl()}`)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, 'origin says hi\n')
  t.equal(origin.hits(), hits + 1, 'the origin saw it once')
})

t.test(`positive (${PROXY}): the proxy still refuses what its policy refuses`, async (t) => {
  const r = await run(`curl -sS --max-time 5 -o /dev/null -w '%{http_code}' http://not-allowed.test:${origin.port}/`)
  t.equal(r.stdout, '403')
})

t.test(`positive (${PROXY}): Node fetch in the sandbox goes through the proxy`, async (t) => {
  const r = await run(`node -e 'fetch("${originUrl()}").then(r => r.text()).then(t => { process.stdout.write(t); process.exit(0) })'`)
  t.equal(r.stdout, 'origin says hi\n', r.stderr)
})

t.test('exit codes and signals pass through', async (t) => {
  t.match(await run('exit 7'), { code: 7, signal: null })
  t.match(await run('kill -TERM $$'), { signal: 'SIGTERM' })
})

t.test('the workspace is writable', async (t) => {
  const r = await run('echo hi > made-in-sandbox.txt')
  t.equal(r.code, 0, r.stderr)
  t.ok(existsSync(join(fx.workspace, 'made-in-sandbox.txt')))
})

const mustFail: [string, string, RegExp | null][] = [
  // network
  ['direct TCP to a loopback origin on the host', `curl -sS --max-time 3 --noproxy '*' http://127.0.0.1:$ORIGIN_PORT/`, /Couldn't connect|Failed to connect/],
  ['Node net.connect straight to the origin', `node -e 'require("net").connect($ORIGIN_PORT, "127.0.0.1").on("connect", () => process.exit(0)).on("error", e => { console.error(e.code); process.exit(1) })'`, /ECONNREFUSED/],
  ['NO_PROXY=* makes curl go direct, and direct goes nowhere', `NO_PROXY='*' no_proxy='*' curl -sS --max-time 3 http://${ORIGIN_HOST}:$ORIGIN_PORT/`, /resolve/i],
  ['DNS does not resolve', 'getent hosts example.com', null],
  ['UDP send goes nowhere', py('import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53))'), /unreachable/i],
  ['a raw socket (ICMP) cannot be opened', py('import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'), /Operation not permitted|PermissionError/],
  ['IPv6 goes nowhere', py('import socket; socket.create_connection(("2001:db8::1", 80), timeout=3)'), /unreachable|Cannot assign/i],
  ['socket(AF_UNIX) is refused by the seccomp filter', py('import socket; socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)'), /Operation not permitted|PermissionError/],
  ['the proxy socket is not visible to the agent', 'ls /run/guarded', /No such file/],
  ['unshare -n', 'unshare -n true', /unshare failed/],
  ['unshare -U', 'unshare -U true', /unshare failed/],
  ['ip link add', 'ip link add g0 type dummy', /Operation not permitted/],
  ['ip route add', 'ip route add 192.0.2.0/24 dev lo', /Operation not permitted/],
  // secrets
  ['reading ~/.ssh/id_ed25519', 'cat $HOME/.ssh/id_ed25519', /Permission denied/],
  ['listing ~/.ssh', 'ls $HOME/.ssh', /Permission denied/],
  ['reading ~/.aws/credentials', 'cat $HOME/.aws/credentials', /Permission denied/],
  ['reading the workspace .env', 'cat .env', /Permission denied/],
  ['a committed config/.env symlink to ~/.ssh/id_ed25519', 'cat config/.env', /Permission denied/],
  ['an innocently named symlink to the key', 'cat innocent.txt', /Permission denied/],
  ['a symlink the agent makes to the key', 'ln -s $HOME/.ssh/id_ed25519 /tmp/k && cat /tmp/k', /Permission denied/],
  ['removing the .env cover to reach the file', 'rm -f .env', /busy|Read-only/i],
  ['reading the proxy admin token (passed in as a secret file)', `cat ${'$'}ADMIN_TOKEN; test -s ${'$'}ADMIN_TOKEN`, null],
  // writes
  ['writing into HOME', 'touch $HOME/planted', /Read-only/],
  ['writing elsewhere on the host', 'touch /var/tmp/guarded-planted', /Read-only/],
  ['writing a git hook', 'echo evil > .git/hooks/pre-commit', /Read-only/],
  ['changing .git/config', 'echo "[core] fsmonitor = evil" >> .git/config', /Read-only/],
  ['creating a missing .vscode/settings.json', 'echo {} > .vscode/settings.json', /Read-only/],
  ['creating a missing .claude/settings.json', 'mkdir -p .claude && echo {} > .claude/settings.json', /Read-only/],
  ['moving .git aside to get past the binds', 'mv .git git-moved', /busy/i],
  ['moving .git/hooks aside', 'mv .git/hooks .git/h2', /busy|Read-only/i],
  ['removing .vscode to recreate it', 'rmdir .vscode', /busy|Read-only/i],
]

for (const [name, script, stderr] of mustFail) {
  t.test(`must fail: ${name}`, async (t) => {
    const hits = origin.hits()
    const r = await run(script.replaceAll('$ORIGIN_PORT', String(origin.port)).replaceAll('$ADMIN_TOKEN', adminTokenPath(fx)))
    t.not(r.code, 0, 'non-zero exit')
    if (stderr !== null) t.match(r.stderr, stderr, 'for the expected reason')
    t.notMatch(r.stdout + r.stderr, /SECRET-/, 'no secret content in the output')
    t.equal(origin.hits(), hits, 'the origin saw nothing')
  })
}

t.test('nothing written on the host by the failed attempts', async (t) => {
  for (const p of [join(fx.home, 'planted'), '/var/tmp/guarded-planted', join(fx.workspace, '.git', 'hooks', 'pre-commit'), join(fx.workspace, 'git-moved')]) {
    t.notOk(existsSync(p), p)
  }
})

t.test('no stub left behind: covers for missing protected paths are removed after the run', async (t) => {
  await run('ls -a > /dev/null')
  const left = readdirSync(fx.workspace).filter((n) => ['.vscode', '.claude', '.idea', '.codex', '.agents', '.guarded', '.mcp.json'].includes(n))
  t.same(left, [])
})

t.test('a background process that outlives the agent is killed', async (t) => {
  const r = await run('(sleep 1; touch outlived) > /dev/null 2>&1 & exit 0')
  t.equal(r.code, 0)
  await sleep(1500)
  t.notOk(existsSync(join(fx.workspace, 'outlived')))
})

t.test('no file descriptor leaks in beyond stdio', async (t) => {
  const r = await run('ls /proc/self/fd')
  t.same(r.stdout.trim().split('\n').map(Number).sort(), [0, 1, 2, 3], 'stdio plus the fd ls itself opened')
})

t.test('the agent has no capabilities and cannot gain privileges', async (t) => {
  const r = await run('grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status')
  t.match(r.stdout, /CapEff:\s+0+\n/)
  t.match(r.stdout, /CapBnd:\s+0+\n/)
  t.match(r.stdout, /NoNewPrivs:\s+1/)
  t.match(r.stdout, /Seccomp:\s+2/, 'a seccomp filter is installed')
})
