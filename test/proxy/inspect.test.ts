/** TLS inspection end to end: curl, git and undici through the proxy to HTTPS origins with their own CA. */
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { connect as tlsConnect, createSecureContext, rootCertificates, type TLSSocket } from 'node:tls'
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { curl, openTunnel } from '../helpers/clients.js'
import { tempDir } from '../helpers/temp-dir.js'
import { makeCa, startInspectingStack, startTlsOrigin, type InspectingStack, type TestCa, type TlsOrigin } from '../helpers/tls-stack.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

const SECRET = `ghp_${randomBytes(12).toString('hex')}`
const PINS = { 'api.test': '127.0.0.1', 'bad.test': '127.0.0.1', 'plain.test': '127.0.0.1' }

interface World {
  readonly proxyCa: TestCa
  readonly api: TlsOrigin
  readonly bad: TlsOrigin
  readonly stack: InspectingStack
  readonly bodies: string[]
  /** Closes the clients' kept-alive tunnels and waits for their records, before the proxy (and its audit log) closes. */
  settle(): Promise<void>
  get(url: string, init?: { method?: string; headers?: Record<string, string> }): Promise<{ status: number; headers: Record<string, unknown>; body: string }>
}

/** One world for the file: the proxy's CA, a trusted origin (api.test), an untrusted one (bad.test), the proxy. */
async function world(t: Teardown): Promise<World> {
  const proxyCa = await makeCa(t, 'proxy-ca')
  const originCa = await makeCa(t, 'origin-ca')
  const strangerCa = await makeCa(t, 'stranger-ca')
  const api = await startTlsOrigin(t, originCa, 'api.test')
  const bad = await startTlsOrigin(t, strangerCa, 'bad.test')
  const policy = [
    'version: 1',
    'default: deny',
    'allow:',
    `  - host: "api.test:${api.port}"`,
    '    methods: [GET, HEAD]',
    '    paths: ["/repos/acme/**", "/orgs/acme/**"]',
    '    credentials:',
    '      header: Authorization',
    '      value: "Bearer ${env:GITHUB_TOKEN}"',
    `  - host: "bad.test:${bad.port}"`,
    '    credentials: {header: X-Api-Key, value: "${env:GITHUB_TOKEN}"}',
    'allow_private: [127.0.0.0/8]',
    '',
  ].join('\n')
  const stack = await startInspectingStack(t, { policy, caDir: proxyCa.dir, upstreamCaFile: originCa.certFile, env: { GITHUB_TOKEN: SECRET }, resolve: PINS })
  const dispatcher = new ProxyAgent({ uri: stack.url, requestTls: { ca: proxyCa.pem } })
  t.teardown(() => dispatcher.close().catch(() => undefined))
  const bodies: string[] = []
  const get: World['get'] = async (url, init = {}) => {
    const res = await request(url, { dispatcher, method: (init.method ?? 'GET') as 'GET', headers: init.headers ?? {} })
    const body = await res.body.text()
    bodies.push(body, JSON.stringify(res.headers))
    return { status: res.statusCode, headers: res.headers, body }
  }
  const settle = async (): Promise<void> => {
    await dispatcher.close()
    const count = (kind: string): number => stack.events.filter((e) => e.type === kind && e['record.kind'] === 'connect').length
    for (let i = 0; i < 100 && count('close') < count('decision'); i++) await new Promise((r) => setTimeout(r, 20))
  }
  return { proxyCa, api, bad, stack, bodies, get, settle }
}

t.test('inspection', async (t) => {
  t.notOk(process.env.GITHUB_TOKEN, 'the test process (and so every client it starts) never holds the token')
  const w = await world(t)
  const origin = (path: string): string => `https://api.test:${w.api.port}${path}`

  await t.test('undici GET under an allowed path: the origin sees the injected header, replacing the agent’s', async (t) => {
    const res = await w.get(origin('/repos/acme/widgets?per_page=1'), { headers: { authorization: 'Bearer agent-guess' } })
    t.equal(res.status, 200)
    t.equal(res.body, 'origin saw GET /repos/acme/widgets?per_page=1')
    const seen = w.api.seen.at(-1)
    t.equal(seen?.headers.authorization, `Bearer ${SECRET}`, 'the origin saw the secret')
    t.equal(seen?.headers.host, `api.test:${w.api.port}`)
    const decision = w.stack.events.filter((e) => e.type === 'decision').at(-1)
    t.match(decision, { 'record.kind': 'http', 'http.request.method': 'GET', 'url.path': '/repos/acme/widgets', 'guarded.verdict': 'allow', 'guarded.rule': `api.test:${w.api.port}` })
  })

  await t.test('curl GET: the client sends no credential, the origin gets one', async (t) => {
    const res = await curl(['-v', '-x', w.stack.url, '--cacert', w.proxyCa.certFile, origin('/orgs/acme/members')])
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.toString(), 'origin saw GET /orgs/acme/members')
    t.notMatch(res.stderr, /^> authorization/im, 'curl sent no Authorization header')
    t.match(res.stderr, /ALPN.*http\/1\.1/i, 'only http/1.1 was offered back')
    t.equal(w.api.seen.at(-1)?.headers.authorization, `Bearer ${SECRET}`)
    w.bodies.push(res.stderr)
  })

  await t.test('a POST, or a path outside the rule, gets the explained 403 and never reaches the origin', async (t) => {
    const before = w.api.seen.length
    const post = await w.get(origin('/repos/acme/widgets'), { method: 'POST' })
    t.equal(post.status, 403)
    t.equal(post.headers['x-guarded-decision'], 'method-not-allowed')
    t.match(post.body, /refused api\.test:\d+: method-not-allowed .*\nrule: api\.test:\d+ \(.*policy\.yaml:4\)\nPOST \/repos\/acme\/widgets/)
    const other = await w.get(origin('/repos/other/widgets'))
    t.equal(other.status, 403)
    t.equal(other.headers['x-guarded-decision'], 'path-not-allowed')
    t.equal(w.api.seen.length, before, 'the origin saw neither')
    t.match(w.stack.events.filter((e) => e.type === 'decision').at(-1), { 'guarded.verdict': 'deny', 'guarded.reason': 'path-not-allowed', 'url.path': '/repos/other/widgets' })
  })

  await t.test('dot segments and %2e%2e cannot climb out of /repos/acme/**', async (t) => {
    const before = w.api.seen.length
    for (const path of ['/repos/acme/../other/x', '/repos/acme/%2e%2e/other/x', '/repos/acme/.%2E/other/x']) {
      const res = await curl(['-i', '--path-as-is', '-x', w.stack.url, '--cacert', w.proxyCa.certFile, origin(path)])
      t.equal(res.code, 0, res.stderr)
      t.match(res.stdout.toString(), /\r\n\r\nHTTP\/1\.1 403 .*\r\n(.*\r\n)*x-guarded-decision: path-not-allowed\r\n/, path)
      w.bodies.push(res.stdout.toString())
    }
    for (const path of ['/repos/acme%2f..%2fother', '/repos/acme/..;/other']) {
      const res = await curl(['-i', '--path-as-is', '-x', w.stack.url, '--cacert', w.proxyCa.certFile, origin(path)])
      t.match(res.stdout.toString(), /\r\n\r\nHTTP\/1\.1 400 .*\r\n(.*\r\n)*x-guarded-decision: bad-request\r\n/, `${path} is ambiguous, so refused`)
    }
    const inside = await curl(['--path-as-is', '-x', w.stack.url, '--cacert', w.proxyCa.certFile, origin('/repos/acme/x/../%77idgets')])
    t.equal(inside.stdout.toString(), 'origin saw GET /repos/acme/widgets', 'the origin receives the canonical path the rule matched')
    t.equal(w.api.seen.length, before + 1)
  })

  await t.test('git ls-remote through the proxy: allowed repository works with the injected token, another is refused', async (t) => {
    const home = await tempDir(t, 'guarded-git-')
    const env = { PATH: process.env.PATH ?? '', HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' }
    const git = (url: string): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn('git', ['-c', `http.proxy=${w.stack.url}`, '-c', `http.sslCAInfo=${w.proxyCa.certFile}`, '-c', 'protocol.version=0', 'ls-remote', url], { env })
        let stderr = ''
        child.stderr.on('data', (d: Buffer) => (stderr += d))
        child.once('close', (code) => resolve({ code, stderr }))
      })
    const ok = await git(origin('/repos/acme/widgets.git'))
    t.equal(ok.code, 0, ok.stderr)
    t.match(w.api.seen.at(-1), { url: '/repos/acme/widgets.git/info/refs?service=git-upload-pack', headers: { authorization: `Bearer ${SECRET}` } })
    const refused = await git(origin('/repos/other/widgets.git'))
    t.not(refused.code, 0)
    t.match(refused.stderr, /403/)
    w.bodies.push(ok.stderr, refused.stderr)
  })

  await t.test('a Host header naming another host inside the tunnel is refused (domain fronting)', async (t) => {
    const res = await w.get(origin('/repos/acme/x'), { headers: { host: 'evil.test' } })
    t.equal(res.status, 403)
    t.equal(res.headers['x-guarded-decision'], 'host-mismatch')
  })

  await t.test('the leaf is minted once and reused: the second connection gets the identical certificate', async (t) => {
    const inspector = w.stack.proxy.inspection.current()
    t.ok(inspector, 'the CA was loaded because a rule inspects')
    const mintsBefore = inspector?.leaves.mints
    const fingerprint = async (): Promise<string> => {
      const tunnel = await openTunnel(t, w.stack.port, `api.test:${w.api.port}`)
      const socket = await new Promise<TLSSocket>((resolve, reject) => {
        const s = tlsConnect({ socket: tunnel.socket, servername: 'api.test', ca: w.proxyCa.pem, ALPNProtocols: ['h2', 'http/1.1'] }, () => resolve(s))
        s.once('error', reject)
      })
      t.equal(socket.alpnProtocol, 'http/1.1', 'h2 is never chosen')
      const cert = socket.getPeerCertificate()
      socket.destroy()
      return cert.fingerprint256
    }
    const first = await fingerprint()
    const second = await fingerprint()
    t.equal(second, first)
    t.equal(inspector?.leaves.mints, mintsBefore, 'no new mint: the leaf was minted at start (pre-warmed) and cached')
    t.equal(mintsBefore, 2, 'one mint per inspected host (api.test, bad.test)')
  })

  await t.test('an upstream whose certificate does not verify gets a 502 that says so', async (t) => {
    const res = await w.get(`https://bad.test:${w.bad.port}/anything`)
    t.equal(res.status, 502)
    t.equal(res.headers['x-guarded-decision'], 'upstream-certificate')
    t.match(res.body, /the TLS certificate of bad\.test:\d+ failed verification \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN)\)/)
    t.equal(w.bad.seen.length, 0, 'nothing, and no credential, was sent to it')
  })

  await w.settle()
  await t.test('the secret appears in no audit line, no event, no response or error body', async (t) => {
    const audit = await w.stack.audit()
    t.ok(audit.length > 0, 'the audit log was written')
    t.match(audit, /"url\.path":"\/repos\/acme\/widgets"/)
    t.notOk(audit.includes(SECRET), 'audit log')
    t.notOk(JSON.stringify(w.stack.events).includes(SECRET), 'events')
    t.notOk(w.bodies.join('\n').includes(SECRET), 'bodies, headers and client output')
    const { inspect } = await import('node:util')
    t.notOk(inspect(w.stack.proxy.inspection.current(), { depth: 10 }).includes(SECRET), 'printing the inspector shows no secret')
  })
})

t.test('inspection needs a CA only when a rule inspects, and refuses a key others can read', async (t) => {
  const { chmod } = await import('node:fs/promises')
  const missing = await tempDir(t, 'guarded-noca-')
  const plain = await startInspectingStack(t, { policy: 'version: 1\nallow:\n  - github.com\n', caDir: missing })
  t.notOk(plain.proxy.inspection.current(), 'a plain policy starts without any CA')
  const inspecting = 'version: 1\nallow:\n  - {host: api.test, inspect: true}\n'
  await t.rejects(startInspectingStack(t, { policy: inspecting, caDir: missing }), { code: 'GUARDED_CA_MISSING', message: /guarded-proxy ca init --dir/ })
  const ca = await makeCa(t, 'loose')
  await chmod(join(ca.dir, 'ca-key.pem'), 0o644)
  await t.rejects(startInspectingStack(t, { policy: inspecting, caDir: ca.dir }), { code: 'GUARDED_CA_KEY_PERMISSIONS', message: /chmod 600/ })
  const creds = 'version: 1\nallow:\n  - {host: api.test, credentials: {header: X-Key, value: "${env:NOPE_TOKEN}"}}\n'
  await chmod(join(ca.dir, 'ca-key.pem'), 0o600)
  await t.rejects(startInspectingStack(t, { policy: creds, caDir: ca.dir }), { code: 'GUARDED_BAD_CONFIG', message: /policy\.yaml:3: \$\{env:NOPE_TOKEN\} is not set in the proxy's environment/ })
})

t.test('plain HTTP to a host with path rules is held to them too, and never gets the credential', async (t) => {
  const { startHttpOrigin } = await import('../helpers/origins.js')
  const origin = await startHttpOrigin(t)
  const proxyCa = await makeCa(t, 'plain')
  const policy = `version: 1\nallow:\n  - host: "plain.test:${origin.port}"\n    paths: ["/repos/acme/**"]\n    credentials: {header: Authorization, value: "Bearer \${env:GITHUB_TOKEN}"}\nallow_private: [127.0.0.0/8]\n`
  const stack = await startInspectingStack(t, { policy, caDir: proxyCa.dir, env: { GITHUB_TOKEN: SECRET }, resolve: PINS, audit: false })
  const other = await curl(['-i', '--path-as-is', '-x', stack.url, `http://plain.test:${origin.port}/repos/acme/../other`])
  t.match(other.stdout.toString(), /^HTTP\/1\.1 403 .*\r\n(.*\r\n)*x-guarded-decision: path-not-allowed/)
  const ok = await curl(['-x', stack.url, `http://plain.test:${origin.port}/repos/acme/x?a=1`])
  t.equal(ok.stdout.toString(), 'origin saw GET /repos/acme/x?a=1 0')
  t.equal(origin.seen.length, 1)
  t.notOk(origin.seen[0]?.headers.authorization, 'no token in cleartext')
  t.match(stack.events.filter((e) => e.type === 'decision').at(-1), { 'url.path': '/repos/acme/x', 'guarded.verdict': 'allow' })
})

t.test('an inspected tunnel in use outlives the idle timeout, and one left idle is closed', async (t) => {
  const originCa = await makeCa(t, 'idle-origin')
  const proxyCa = await makeCa(t, 'idle-proxy')
  const api = await startTlsOrigin(t, originCa, 'api.test')
  const policy = `version: 1\nallow:\n  - {host: "api.test:${api.port}", inspect: true}\nallow_private: [127.0.0.0/8]\n`
  const stack = await startInspectingStack(t, { policy, caDir: proxyCa.dir, upstreamCaFile: originCa.certFile, resolve: PINS, audit: false, limits: { idleTimeoutMs: 300 } })
  const dispatcher = new ProxyAgent({ uri: stack.url, requestTls: { ca: proxyCa.pem }, keepAliveTimeout: 60_000 })
  t.teardown(() => dispatcher.close().catch(() => undefined))
  for (let i = 0; i < 12; i++) {
    const res = await request(`https://api.test:${api.port}/repos/${i}`, { dispatcher })
    t.equal(await res.body.text(), `origin saw GET /repos/${i}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  const tunnels = (): number => stack.events.filter((e) => e.type === 'decision' && e['record.kind'] === 'connect').length
  t.equal(tunnels(), 1, '1.2 s of requests every 100 ms went over one tunnel: the 300 ms idle timeout did not cut it')
  const closes = (): number => stack.events.filter((e) => e.type === 'close' && e['record.kind'] === 'connect').length
  for (let i = 0; i < 100 && closes() === 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.equal(closes(), 1, 'left idle, the tunnel was closed')
})

t.test('with --upstream-ca, new upstream connections share one trust store instead of each building its own', async (t) => {
  // What building one costs on this machine: the public roots and the private CA, parsed once.
  const originCa = await makeCa(t, 'many-origin')
  const proxyCa = await makeCa(t, 'many-proxy')
  const storeMs = Math.min(...[1, 2, 3, 4, 5].map(() => cpuMs(() => createSecureContext({ ca: [...rootCertificates, originCa.pem] }))))
  const parallel = 24
  const api = await startTlsOrigin(t, originCa, 'api.test', { holdUntil: parallel })
  const policy = `version: 1\nallow:\n  - {host: "api.test:${api.port}", inspect: true}\nallow_private: [127.0.0.0/8]\n`
  const stack = await startInspectingStack(t, { policy, caDir: proxyCa.dir, upstreamCaFile: originCa.certFile, resolve: PINS, audit: false })
  const dispatcher = new ProxyAgent({ uri: stack.url, requestTls: { ca: proxyCa.pem }, connections: parallel })
  t.teardown(() => dispatcher.close().catch(() => undefined))
  const before = process.cpuUsage()
  const bodies = await Promise.all(Array.from({ length: parallel }, (_, i) => request(`https://api.test:${api.port}/r/${i}`, { dispatcher }).then((res) => res.body.text())))
  const used = process.cpuUsage(before)
  t.same(bodies.sort(), Array.from({ length: parallel }, (_, i) => `origin saw GET /r/${i}`).sort(), 'every request answered, through the private CA')
  t.equal(api.connections(), parallel, `the proxy opened ${parallel} upstream connections, all verified`)
  const spentMs = (used.user + used.system) / 1000
  // Each connection building its own store would cost at least parallel × storeMs on top of the rest.
  t.ok(spentMs < parallel * storeMs * 0.6, `${parallel} tunnels, handshakes on both sides and requests took ${spentMs.toFixed(0)} ms of CPU; building the trust store takes ${storeMs.toFixed(1)} ms`)
})

function cpuMs(work: () => unknown): number {
  const before = process.cpuUsage()
  work()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000
}
