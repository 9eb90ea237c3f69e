/**
 * `guarded-proxy serve` as an operator runs it: a real child process, its stdout lines, exit codes,
 * signals (SIGHUP reload, SIGTERM drain) and listeners on TCP and Unix sockets.
 */
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { startEchoOrigin, startHttpOrigin } from '../helpers/origins.js'
import { openSocket, rawRequest } from '../helpers/raw-client.js'
import { accepts, CLI, freePort, runCli, runServeToExit, startServe, type ServeChild } from '../helpers/run-cli.js'
import { tempDir } from '../helpers/temp-dir.js'

const ALLOW_ORIGIN = `version: 1
default: deny
allow:
  - "origin.test:*"
allow_private:
  - 127.0.0.0/8
`

const BLOCK_ORIGIN = `version: 1
default: deny
block:
  - origin.test
allow_private:
  - 127.0.0.0/8
`

/** The same policy with a typo on line 3, column 1. */
const BROKEN = `version: 1
default: deny
alow:
  - "origin.test:*"
`

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function policyFile(t: Test, text: string): Promise<string> {
  const file = join(await tempDir(t, 'guarded-cli-'), 'policy.yaml')
  await writeFile(file, text)
  return file
}

function portOf(url: string): number {
  return Number(new URL(url).port)
}

/** GET on the admin listener. */
function adminGet(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(new URL(path, url), (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject)
  })
}

/** Sends CONNECT on an already-open socket; resolves with the status and the socket (ready to tunnel on 200). */
function connectVia(socket: Socket, target: string): Promise<{ status: number; head: string; socket: Socket }> {
  socket.on('error', () => {})
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  return new Promise((resolve) =>
    socket.once('data', (d: Buffer) => {
      const head = d.toString('latin1')
      resolve({ status: Number(head.split(' ')[1]), head, socket })
    }),
  )
}

function echoOnce(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (d: Buffer) => resolve(d.toString()))
    socket.write(text)
  })
}

/** Waits until `read()` matches, or fails after `ms`. */
async function waitFor(read: () => string, pattern: RegExp, ms = 5_000): Promise<string> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const match = pattern.exec(read())
    if (match) return match[0]
    await sleep(25)
  }
  throw new Error(`timed out waiting for ${pattern} in:\n${read()}`)
}

/** A port that was free a moment ago (bound then released). */
/** `serve` on the policy file, its admin token and discovery file in the policy's temp dir (removed at teardown), not under $HOME. */
function serve(t: Test, policy: string, extra: readonly string[] = []): Promise<ServeChild> {
  return startServe(t, ['--policy', policy, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1', ...extra], { ...process.env, XDG_RUNTIME_DIR: dirname(policy) })
}

t.test('serve prints the real listener and admin URLs, and the admin listener answers health checks', async (t) => {
  const child = await serve(t, await policyFile(t, ALLOW_ORIGIN))
  t.match(child.stdout(), /^guarded-proxy listening on http:\/\/127\.0\.0\.1:\d+$/m)
  t.match(child.stdout(), /^guarded-proxy admin on http:\/\/127\.0\.0\.1:\d+$/m)
  const proxyPort = portOf(child.proxyUrl)
  const adminPort = portOf(child.adminUrl)
  t.not(proxyPort, 0, 'port 0 was replaced by the bound port')
  t.not(adminPort, 0)
  t.not(proxyPort, adminPort)
  t.match(await adminGet(child.adminUrl, '/healthz'), { status: 200 })
  t.match(await adminGet(child.adminUrl, '/readyz'), { status: 200 })
  t.match(await adminGet(child.adminUrl, '/nope'), { status: 404, body: /healthz/ })
  const origin = await startHttpOrigin(t)
  const res = await rawRequest(proxyPort, `GET http://origin.test:${origin.port}/hi HTTP/1.1\r\nHost: origin.test:${origin.port}\r\nConnection: close\r\n\r\n`)
  t.equal(res.status, 200, 'the printed proxy URL is where the proxy serves')
  t.match(res.body, 'origin saw GET /hi')
})

t.test('a bad policy stops serve with a non-zero exit, file:line:col on stderr, and nothing listening', async (t) => {
  const file = await policyFile(t, BROKEN)
  const port = await freePort()
  const adminPort = await freePort()
  const result = await runServeToExit(['--policy', file, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`])
  t.equal(result.hung, false, 'serve exited on its own')
  t.not(result.code, 0)
  t.ok(result.stderr.includes(`${file}:3:1`), `stderr names ${file}:3:1:\n${result.stderr}`)
  t.match(result.stderr, /alow/)
  t.notMatch(result.stdout, /listening/, 'it never claimed to listen')
  t.equal(await accepts(port), false, 'nothing listens on the proxy port')
  t.equal(await accepts(adminPort), false, 'nothing listens on the admin port')
})

t.test('an OTEL_* setting the span sink cannot honour stops serve at start, naming the variable', async (t) => {
  const file = await policyFile(t, ALLOW_ORIGIN)
  const port = await freePort()
  const result = await runServeToExit(['--policy', file, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--otlp-endpoint', 'http://127.0.0.1:9'], 30_000,
    { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '5' })
  t.equal(result.hung, false, 'serve exited on its own')
  t.not(result.code, 0)
  t.match(result.stderr, /OTEL_TRACES_SAMPLER_ARG must be a probability from 0 to 1 for traceidratio, not "5"/)
  t.notMatch(result.stdout, /listening/, 'it never claimed to listen')
  t.equal(await accepts(port), false, 'nothing listens on the proxy port')
})

t.test('usage mistakes exit 2 with the usage text, before anything listens', async (t) => {
  const policy = await policyFile(t, ALLOW_ORIGIN)
  const base = ['--policy', policy, '--admin', '127.0.0.1:0']
  const cases: [string, string[], RegExp][] = [
    ['an unknown flag', ['--listen', '127.0.0.1:0', '--bogus'], /bogus/],
    ['a positional argument', ['--listen', '127.0.0.1:0', 'extra'], /extra/],
    ['--listen without a port', ['--listen', '127.0.0.1'], /--listen 127\.0\.0\.1:/],
    ['--listen with port 99999', ['--listen', '127.0.0.1:99999'], /--listen/],
    ['--listen with a relative unix path', ['--listen', 'unix:proxy.sock'], /absolute/],
    ['--resolve without =', ['--listen', '127.0.0.1:0', '--resolve', 'origin.test'], /--resolve/],
    ['--resolve to a name', ['--listen', '127.0.0.1:0', '--resolve', 'origin.test=example.com'], /--resolve/],
    ['--resolve of an IP', ['--listen', '127.0.0.1:0', '--resolve', '10.0.0.1=127.0.0.1'], /--resolve/],
    ['--resolve with trailing junk', ['--listen', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1=junk'], /--resolve/],
    ['--max-connections not a number', ['--listen', '127.0.0.1:0', '--max-connections', 'lots'], /maxConnections/],
    ['--drain-timeout not a duration', ['--listen', '127.0.0.1:0', '--drain-timeout', 'soon'], /--drain-timeout/],
  ]
  // A few at a time: each child takes a second or more to start on a loaded machine.
  const results: Awaited<ReturnType<typeof runServeToExit>>[] = []
  for (let i = 0; i < cases.length; i += 4) {
    results.push(...(await Promise.all(cases.slice(i, i + 4).map(([, args]) => runServeToExit([...base, ...args], 30_000)))))
  }
  for (const [i, [what, , names]] of cases.entries()) {
    const result = results[i]!
    t.equal(result.hung, false, `${what}: serve did not start`)
    t.equal(result.code, 2, `${what}: exit 2`)
    t.match(result.stderr, names, `${what}: stderr names the mistake`)
    t.match(result.stderr, /usage: guarded-proxy serve/, `${what}: stderr shows the usage`)
    t.notMatch(result.stdout, /listening/, `${what}: nothing listened`)
  }
  const missing = await runCli(['serve', '--listen', '127.0.0.1:0'])
  t.equal(missing.code, 2, 'no --policy: exit 2')
  t.match(missing.stderr, /--policy/)
})

t.test('SIGHUP reloads the policy; a broken file keeps the previous policy and says why on stderr', async (t) => {
  const file = await policyFile(t, BLOCK_ORIGIN)
  const echo = await startEchoOrigin(t)
  const child = await serve(t, file)
  const port = portOf(child.proxyUrl)
  const target = `origin.test:${echo.port}`

  const before = await connectVia(await openSocket(port), target)
  before.socket.destroy()
  t.equal(before.status, 403, 'blocked before the reload')
  t.match(before.head, /x-guarded-decision: blocked/)

  await writeFile(file, ALLOW_ORIGIN)
  child.child.kill('SIGHUP')
  await waitFor(child.stderr, /policy reloaded/)
  const after = await connectVia(await openSocket(port), target)
  t.teardown(() => after.socket.destroy())
  t.equal(after.status, 200, 'allowed after editing the file and sending SIGHUP')
  t.equal(await echoOnce(after.socket, 'hello'), 'hello', 'and the tunnel carries bytes')

  await writeFile(file, BROKEN)
  child.child.kill('SIGHUP')
  const failure = await waitFor(child.stderr, /.*policy reload failed.*/)
  t.ok(failure.includes(`${file}:3:1`), `the reload error names ${file}:3:1`)
  const still = await connectVia(await openSocket(port), target)
  t.teardown(() => still.socket.destroy())
  t.equal(still.status, 200, 'the previous (allowing) policy stays in force')
  t.equal(child.child.exitCode, null, 'a bad reload does not stop the proxy')
})

t.test('SIGTERM drains: a busy tunnel keeps working until it ends, new connections are refused, exit 0', async (t) => {
  const echo = await startEchoOrigin(t)
  const child = await serve(t, await policyFile(t, ALLOW_ORIGIN), ['--drain-timeout', '20s'])
  const port = portOf(child.proxyUrl)
  const tunnel = await connectVia(await openSocket(port), `origin.test:${echo.port}`)
  t.teardown(() => tunnel.socket.destroy())
  t.equal(tunnel.status, 200)
  t.equal(await echoOnce(tunnel.socket, 'before'), 'before')

  child.child.kill('SIGTERM')
  await waitFor(child.stderr, /draining/)
  t.equal(await accepts(port), false, 'new connections are refused while draining')
  t.match(await adminGet(child.adminUrl, '/readyz'), { status: 503 }, '/readyz says not ready while draining')
  for (let i = 0; i < 5; i++) {
    t.equal(await echoOnce(tunnel.socket, `during-${i}`), `during-${i}`, `the open tunnel still carries bytes (${i})`)
    await sleep(200)
  }
  t.equal(child.child.exitCode, null, 'the process waits for the busy tunnel')
  const ended = Date.now()
  tunnel.socket.end()
  const exit = await Promise.race([child.exited, sleep(10_000).then(() => undefined)])
  t.ok(exit, 'the process exits once the tunnel ended, well before the 20 s drain timeout')
  t.same(exit, { code: 0, signal: null }, 'exit status 0')
  t.ok(Date.now() - ended < 5_000, `it exited ${Date.now() - ended} ms after the tunnel ended`)
})

t.test('SIGTERM drain timeout: a tunnel that never ends is cut after --drain-timeout, then exit 0', async (t) => {
  const echo = await startEchoOrigin(t)
  const child = await serve(t, await policyFile(t, ALLOW_ORIGIN), ['--drain-timeout', '1s'])
  const tunnel = await connectVia(await openSocket(portOf(child.proxyUrl)), `origin.test:${echo.port}`)
  t.teardown(() => tunnel.socket.destroy())
  t.equal(tunnel.status, 200)
  const closed = new Promise<void>((resolve) => tunnel.socket.once('close', () => resolve()))
  const start = Date.now()
  child.child.kill('SIGTERM')
  const exit = await Promise.race([child.exited, sleep(8_000).then(() => undefined)])
  await closed
  const elapsed = Date.now() - start
  t.same(exit, { code: 0, signal: null }, 'exit 0 after cutting the tunnel')
  t.ok(elapsed >= 900 && elapsed < 5_000, `the tunnel was cut at the drain timeout (${elapsed} ms)`)
})

t.test('--listen unix:/path serves CONNECT and plain HTTP over a Unix socket', async (t) => {
  const dir = await tempDir(t, 'guarded-cli-')
  const path = join(dir, 'proxy.sock')
  const echo = await startEchoOrigin(t)
  const origin = await startHttpOrigin(t)
  const child = await startServe(t, ['--policy', await policyFile(t, ALLOW_ORIGIN), '--listen', `unix:${path}`, '--admin', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1'], { ...process.env, XDG_RUNTIME_DIR: dir })
  t.equal(child.proxyUrl, `unix:${path}`, 'serve prints the socket it listens on')

  const tunnel = await connectVia(connect(path), `origin.test:${echo.port}`)
  t.teardown(() => tunnel.socket.destroy())
  t.equal(tunnel.status, 200, 'CONNECT over the Unix socket is established')
  t.equal(await echoOnce(tunnel.socket, 'over unix'), 'over unix')

  const denied = await connectVia(connect(path), 'elsewhere.test:443')
  denied.socket.destroy()
  t.equal(denied.status, 403, 'the policy applies on the Unix socket too')

  const plain = connect(path)
  t.teardown(() => plain.destroy())
  plain.write(`GET http://origin.test:${origin.port}/via-unix HTTP/1.1\r\nHost: origin.test:${origin.port}\r\nConnection: close\r\n\r\n`)
  const body = await new Promise<string>((resolve) => {
    let data = ''
    plain.on('data', (d: Buffer) => (data += d))
    plain.once('close', () => resolve(data))
  })
  t.match(body, /^HTTP\/1\.1 200/)
  t.match(body, 'origin saw GET /via-unix')
})

t.test('a listener that cannot bind stops serve with exit 1 instead of leaving a half-started proxy', async (t) => {
  const busy = createTcpServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => busy.close(() => resolve())))
  const busyPort = (busy.address() as AddressInfo).port
  const proxyPort = await freePort()
  // The proxy listener binds first, then the admin listener fails on the busy port.
  const env = { ...process.env, NODE_OPTIONS: '' }
  const args = ['serve', '--policy', await policyFile(t, ALLOW_ORIGIN), '--listen', `127.0.0.1:${proxyPort}`, '--admin', `127.0.0.1:${busyPort}`]
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => void child.kill('SIGKILL'))
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  await waitFor(() => stderr, /EADDRINUSE/, 30_000)
  t.pass('stderr says the address is in use')
  const code = await Promise.race([exited, sleep(3_000).then(() => 'still running' as const)])
  const serving = await accepts(proxyPort)
  t.equal(code, 1, 'serve exits 1 within 3 s of reporting the failure')
  t.equal(serving, false, 'and no half-started proxy listener is left accepting traffic')
})
