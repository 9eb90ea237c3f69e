/** Sessions end to end: created over the admin API, used by curl, undici and Python as proxy credentials, attributed in the events, expired and ended. */
import { spawn } from 'node:child_process'
import t, { type Test } from 'tap'
import { ProxyAgent, request } from 'undici'
import { curl } from '../helpers/clients.js'
import { EVENTS_POLICY, startEventsStack, waitForAudit, type EventsStack } from '../helpers/events-stack.js'
import { startHttpOrigin } from '../helpers/origins.js'
import { rawRequest } from '../helpers/raw-client.js'
import { startServe } from '../helpers/run-cli.js'
import { tempDir } from '../helpers/temp-dir.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** GET through the proxy with undici (absolute-form, credentials from the proxy URL). */
async function viaUndici(t: Test, proxyUrl: string, url: string): Promise<{ status: number; body: string }> {
  const agent = new ProxyAgent({ uri: proxyUrl, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  const res = await request(url, { dispatcher: agent })
  return { status: res.statusCode, body: await res.body.text() }
}

/** GET through the proxy with Python's urllib and a ProxyHandler, as a Python agent tool would. */
function viaPython(proxyUrl: string, url: string): Promise<{ status: number; body: string; stderr: string }> {
  const script = [
    'import sys, urllib.request, urllib.error',
    'opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sys.argv[1]}))',
    'try:',
    '    r = opener.open(sys.argv[2], timeout=10); print(r.status); print(r.read().decode())',
    'except urllib.error.HTTPError as e:',
    '    print(e.code); print(e.read().decode())',
  ].join('\n')
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, proxyUrl, url], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.stderr.on('data', (d: Buffer) => (err += d))
    child.once('error', reject)
    child.once('close', () => {
      const [status = '0', ...rest] = out.split('\n')
      resolve({ status: Number(status), body: rest.join('\n').trim(), stderr: err })
    })
  })
}

/** curl through the proxy; returns the HTTP status and body. */
async function viaCurl(proxyUrl: string, url: string): Promise<{ status: number; body: string }> {
  const res = await curl(['-x', proxyUrl, '-w', '\n%{http_code}', url])
  const text = res.stdout.toString()
  const cut = text.lastIndexOf('\n')
  return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut) }
}

const decisionFor = (stack: EventsStack, path: string) => stack.decisions().find((d) => d['url.path'] === path)

t.test('curl, undici and Python urllib are each attributed to the session whose credentials they use', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const session = await stack.createSession({ id: 'agent-1' })
  t.equal(session.id, 'agent-1')
  t.match(session.token, /^[A-Za-z0-9_-]{40,}$/, 'a long random token')
  t.equal(session.proxy_url, `http://agent-1:${session.token}@127.0.0.1:${stack.port}`, 'proxy_url carries the credentials')

  const c = await viaCurl(session.proxy_url, origin.url('/from-curl', 'origin.test'))
  t.equal(c.status, 200, 'curl')
  t.match(c.body, 'origin saw GET /from-curl')
  const u = await viaUndici(t, session.proxy_url, origin.url('/from-undici', 'origin.test'))
  t.equal(u.status, 200, 'undici')
  const p = await viaPython(session.proxy_url, origin.url('/from-python', 'origin.test'))
  t.equal(p.status, 200, `python urllib (${p.stderr})`)
  t.match(p.body, 'origin saw GET /from-python')
  await stack.waitForCloses(3)

  for (const path of ['/from-curl', '/from-undici', '/from-python']) {
    t.match(decisionFor(stack, path), { 'session.id': 'agent-1', 'guarded.verdict': 'allow', 'server.address': 'origin.test' }, path)
  }
  t.same(stack.closes().map((c) => c['session.id']), ['agent-1', 'agent-1', 'agent-1'], 'the closes carry the session too')
  for (const seen of origin.seen) t.notOk(seen.headers['proxy-authorization'], `the session token never reaches the origin (${seen.url})`)
})

t.test('auth required: no credentials, a wrong token or an unknown session get 407 with Proxy-Authenticate and an auth-required deny', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const session = await stack.createSession({ id: 'agent-2' })
  const url = origin.url('/secret', 'origin.test')
  const cases = [
    ['no credentials', stack.proxyUrl],
    ['wrong token', `http://agent-2:${session.token.slice(0, -2)}xx@127.0.0.1:${stack.port}`],
    ['unknown session', `http://nobody:${session.token}@127.0.0.1:${stack.port}`],
    ['empty token', `http://agent-2:@127.0.0.1:${stack.port}`],
  ] as const
  for (const [name, proxyUrl] of cases) {
    const res = await curl(['-x', proxyUrl, '-D', '-', '-o', '/dev/null', url])
    const head = res.stdout.toString()
    t.match(head, /^HTTP\/1\.1 407 /, `${name}: 407`)
    t.match(head, /proxy-authenticate: Basic realm="guarded"/i, `${name}: says how to authenticate`)
  }
  // A raw request with a malformed Proxy-Authorization (not Basic) is refused the same way.
  const raw = await rawRequest(stack.port, `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\nProxy-Authorization: Bearer abc\r\nConnection: close\r\n\r\n`)
  t.equal(raw.status, 407, 'a non-Basic scheme')
  await stack.waitForCloses(cases.length + 1)
  const denies = stack.decisions()
  t.equal(denies.length, cases.length + 1, 'one decision per refused request')
  for (const d of denies) t.match(d, { 'guarded.verdict': 'deny', 'guarded.reason': 'auth-required', 'server.address': 'origin.test' })
  t.equal(origin.seen.length, 0, 'nothing reached the origin')
})

t.test('auth none: clients without credentials belong to the default session; credentials still pick theirs', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'none' })
  const session = await stack.createSession({ id: 'agent-3' })
  t.equal((await viaCurl(stack.proxyUrl, origin.url('/anon', 'origin.test'))).status, 200)
  t.equal((await viaCurl(session.proxy_url, origin.url('/named', 'origin.test'))).status, 200)
  const bad = await viaCurl(`http://agent-3:wrong@127.0.0.1:${stack.port}`, origin.url('/bad', 'origin.test'))
  t.equal(bad.status, 407, 'wrong credentials are refused even when none are required: they are not silently downgraded')
  await stack.waitForCloses(3)
  t.equal(decisionFor(stack, '/anon')?.['session.id'], 'default')
  t.equal(decisionFor(stack, '/named')?.['session.id'], 'agent-3')
})

t.test('--session-id names the default session of a serve process', async (t) => {
  const origin = await startHttpOrigin(t)
  const dir = await tempDir(t, 'guarded-sessions-')
  await writeFile(join(dir, 'policy.yaml'), EVENTS_POLICY)
  const audit = join(dir, 'audit.jsonl')
  const serve = await startServe(t, ['--policy', join(dir, 'policy.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1', '--session-id', 'ci-job-42', '--audit-log', audit], { PATH: process.env.PATH ?? '', XDG_RUNTIME_DIR: dir, HOME: dir })
  t.equal((await viaCurl(serve.proxyUrl, origin.url('/x', 'origin.test'))).status, 200)
  const lines = await waitForAudit(audit, (l) => l.some((r) => r.type === 'close'), 'the close record')
  t.match(lines.find((l) => l.type === 'decision'), { 'session.id': 'ci-job-42', 'server.address': 'origin.test', 'guarded.verdict': 'allow' })
  serve.child.kill('SIGTERM')
  t.match(await serve.exited, { code: 0 })
})

t.test('two sessions interleaved on kept-alive connections keep their IDs apart', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const a = await stack.createSession({ id: 'alpha' })
  const b = await stack.createSession({ id: 'beta' })
  const agentA = new ProxyAgent({ uri: a.proxy_url, proxyTunnel: false })
  const agentB = new ProxyAgent({ uri: b.proxy_url, proxyTunnel: false })
  t.teardown(() => Promise.all([agentA.destroy(), agentB.destroy()]))
  const jobs: Promise<unknown>[] = []
  for (let i = 0; i < 20; i++) {
    jobs.push(request(origin.url(`/alpha/${i}`, 'origin.test'), { dispatcher: agentA }).then((r) => r.body.text()))
    jobs.push(request(origin.url(`/beta/${i}`, 'origin.test'), { dispatcher: agentB }).then((r) => r.body.text()))
  }
  await Promise.all(jobs)
  await stack.waitForCloses(40)
  const decisions = stack.decisions()
  t.equal(decisions.length, 40)
  for (const d of decisions) t.equal(d['session.id'], String(d['url.path']).split('/')[1], `${d['url.path']} attributed to its own session`)
  const closesBySession = new Map(decisions.map((d) => [d['record.id'], d['session.id']]))
  for (const c of stack.closes()) t.equal(c['session.id'], closesBySession.get(c['record.id']), 'close agrees with its decision')
})

t.test('a session with a ttl expires: its credentials then get 407 and it leaves the list', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const session = await stack.createSession({ id: 'short', ttl: '1s' })
  const created = await stack.admin('GET', '/v1/sessions')
  const listed = (created.json?.sessions as { id: string; expires_at?: string }[]).find((s) => s.id === 'short')
  t.ok(listed?.expires_at, 'the list shows when it expires')
  t.ok(Math.abs(Date.parse(listed!.expires_at!) - Date.now() - 1_000) < 500, 'about a second from now')
  t.equal((await viaCurl(session.proxy_url, origin.url('/before', 'origin.test'))).status, 200, 'works before the ttl')
  await new Promise((resolve) => setTimeout(resolve, 1_100))
  t.equal((await viaCurl(session.proxy_url, origin.url('/after', 'origin.test'))).status, 407, 'refused after it')
  const after = await stack.admin('GET', '/v1/sessions')
  t.notOk((after.json?.sessions as { id: string }[]).some((s) => s.id === 'short'), 'gone from the list')
  await stack.waitForCloses(2)
  t.match(stack.decisions().at(-1), { 'guarded.reason': 'auth-required', 'guarded.verdict': 'deny', 'server.address': 'origin.test' })
  t.same(origin.seen.map((s) => s.url), ['/before'])
  // The id is free again once it expired.
  t.equal((await stack.admin('POST', '/v1/sessions', { id: 'short' })).status, 201, 'an expired id can be reused')
})

t.test('DELETE ends a session: its credentials get 407 at once', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const session = await stack.createSession({ id: 'doomed' })
  t.equal((await viaCurl(session.proxy_url, origin.url('/one', 'origin.test'))).status, 200)
  const ended = await stack.admin('DELETE', '/v1/sessions/doomed')
  t.equal(ended.status, 200)
  t.same(ended.json, { ended: 'doomed' })
  t.equal((await viaCurl(session.proxy_url, origin.url('/two', 'origin.test'))).status, 407)
  t.equal((await stack.admin('DELETE', '/v1/sessions/doomed')).status, 404, 'a second DELETE finds nothing')
  t.equal((await stack.admin('DELETE', '/v1/sessions/default')).status, 404, 'the default session cannot be ended')
  // Recreating the id gives a new token; the old one stays dead.
  const again = await stack.createSession({ id: 'doomed' })
  t.not(again.token, session.token)
  t.equal((await viaCurl(session.proxy_url, origin.url('/three', 'origin.test'))).status, 407, 'the old token does not work for the new session')
  t.equal((await viaCurl(again.proxy_url, origin.url('/four', 'origin.test'))).status, 200)
  t.same(origin.seen.map((s) => s.url), ['/one', '/four'])
})

t.test('a CONNECT tunnel carries the session too (curl -p)', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const session = await stack.createSession({ id: 'tunneler' })
  const res = await curl(['-p', '-x', session.proxy_url, origin.url('/tunnelled', 'origin.test')])
  t.equal(res.code, 0, res.stderr)
  const refused = await curl(['-p', '-x', stack.proxyUrl, '-w', '%{http_connect}', '-o', '/dev/null', origin.url('/x', 'origin.test')])
  t.match(refused.stdout.toString(), '407', 'CONNECT without credentials')
  await stack.waitForCloses(2)
  const [ok, denied] = stack.decisions()
  t.match(ok, { 'record.kind': 'connect', 'session.id': 'tunneler', 'guarded.verdict': 'allow' })
  t.match(denied, { 'record.kind': 'connect', 'guarded.verdict': 'deny', 'guarded.reason': 'auth-required' })
})
