/** The admin listener as an operator meets it: the token on every /v1/ route, open health endpoints, the token file, and bodies that are not what they should be. */
import { stat } from 'node:fs/promises'
import { connect } from 'node:net'
import t from 'tap'
import { startEventsStack } from '../helpers/events-stack.js'
import { startHttpOrigin } from '../helpers/origins.js'
import { curl } from '../helpers/clients.js'

/** Every /v1/ route the admin API serves, with a body where the route reads one. */
const ROUTES: readonly [string, string, object?][] = [
  ['POST', '/v1/sessions', { id: 'x1' }],
  ['GET', '/v1/sessions'],
  ['DELETE', '/v1/sessions/default'],
  ['PUT', '/v1/sessions/default/prompt', { id: 'p' }],
  ['GET', '/v1/approvals'],
  ['GET', '/v1/approvals/events'],
  ['POST', '/v1/approvals/abc', { decision: 'allow' }],
  ['GET', '/v1/no-such-route'],
]

t.test('every /v1/ route answers 401 without the admin token, or with a wrong one, and changes nothing', async (t) => {
  const stack = await startEventsStack(t)
  for (const bearer of [null, 'not-the-token', `${stack.token}x`, '']) {
    for (const [method, path, body] of ROUTES) {
      const res = await stack.admin(method, path, body, bearer)
      t.equal(res.status, 401, `${method} ${path} with ${bearer === null ? 'no header' : `token ${JSON.stringify(bearer)}`}`)
      t.match(res.headers['www-authenticate'], /^Bearer /)
      t.match(res.json?.error, stack.proxy.adminToken.file, 'the answer says where the token is')
      t.notMatch(res.text, stack.token, 'and never the token itself')
    }
  }
  // Basic with the token as password is not Bearer.
  const basic = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '-u', `admin:${stack.token}`, `${stack.adminUrl}/v1/sessions`])
  t.equal(basic.stdout.toString(), '401', 'Basic credentials are not the admin token')
  const list = await stack.admin('GET', '/v1/sessions')
  t.equal(list.status, 200)
  t.same((list.json?.sessions as { id: string }[]).map((s) => s.id), ['default'], 'no session was created by the refused POSTs, none ended')
})

t.test('/healthz, /readyz and /metrics need no token', async (t) => {
  const stack = await startEventsStack(t)
  for (const path of ['/healthz', '/readyz', '/metrics']) {
    const res = await stack.admin('GET', path, undefined, null)
    t.equal(res.status, 200, path)
  }
  t.match((await stack.admin('GET', '/metrics', undefined, null)).text, /^# HELP guarded_/m)
})

t.test('a generated token file is 0600 in a 0700 directory and is removed on close', async (t) => {
  const stack = await startEventsStack(t)
  const file = stack.proxy.adminToken.file
  t.ok(file.startsWith(stack.dir), `in the runtime dir (${file})`)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  t.equal((await stat(`${stack.dir}/guarded`)).mode & 0o777, 0o700)
  t.equal(stack.token.length >= 40, true, 'a long token')
  await stack.proxy.close()
  await t.rejects(stat(file), { code: 'ENOENT' }, 'removed on close')
})

t.test('POST /v1/sessions: ids, ttls and bodies', async (t) => {
  const stack = await startEventsStack(t)
  const generated = await stack.admin('POST', '/v1/sessions')
  t.equal(generated.status, 201, 'no body: a generated id')
  t.match(generated.json, { id: /^[A-Za-z0-9_-]{8,}$/, token: String, proxy_url: /^http:\/\// })
  const other = await stack.admin('POST', '/v1/sessions', {})
  t.not(other.json?.id, generated.json?.id, 'generated ids differ')
  t.not(other.json?.token, generated.json?.token)
  t.equal((await stack.admin('POST', '/v1/sessions', { id: 'dup' })).status, 201)
  t.equal((await stack.admin('POST', '/v1/sessions', { id: 'dup' })).status, 409, 'an id in use')
  t.equal((await stack.admin('POST', '/v1/sessions', { id: 'default' })).status, 409, 'the default session id')
  const rows: [string, string | object, number][] = [
    ['malformed JSON', '{"id": ', 400],
    ['JSON with trailing junk', '{"id":"a"} x', 400],
    ['an id with a slash', { id: 'a/b' }, 400],
    ['an id with a space', { id: 'a b' }, 400],
    ['an empty id', { id: '' }, 400],
    ['an id that is a number', { id: 7 }, 400],
    ['a 129-character id', { id: 'a'.repeat(129) }, 400],
    ['a ttl without a unit', { ttl: '30' }, 400],
    ['a numeric ttl', { ttl: 30 }, 400],
    ['a zero ttl', { ttl: '0s' }, 400],
    ['a body over 64 KiB', JSON.stringify({ id: 'big', pad: 'x'.repeat(70_000) }), 400],
  ]
  for (const [name, body, status] of rows) {
    const res = await stack.admin('POST', '/v1/sessions', body)
    t.equal(res.status, status, name)
    t.type(res.json?.error, 'string', `${name}: says why`)
  }
  t.equal((await stack.admin('POST', '/v1/sessions', { id: 'a'.repeat(128), ttl: '8h' })).status, 201, 'a 128-character id and an 8h ttl are fine')
  // The listener kept serving through all of that.
  t.equal((await stack.admin('GET', '/healthz', undefined, null)).status, 200)
  t.same(
    (((await stack.admin('GET', '/v1/sessions')).json?.sessions ?? []) as { id: string }[]).map((s) => s.id).sort(),
    ['a'.repeat(128), 'default', 'dup', generated.json?.id, other.json?.id].sort(),
  )
})

t.test('PUT /v1/sessions/{id}/prompt validates its body and the session', async (t) => {
  const stack = await startEventsStack(t)
  await stack.createSession({ id: 's1' })
  const rows: [string, string, string | object, number][] = [
    ['malformed JSON', 's1', '{', 400],
    ['an array', 's1', '[]', 400],
    ['null', 's1', 'null', 400],
    ['no id', 's1', { text: 'hi' }, 400],
    ['an empty id', 's1', { id: '' }, 400],
    ['a 201-character id', 's1', { id: 'p'.repeat(201) }, 400],
    ['text that is not a string', 's1', { id: 'p', text: 5 }, 400],
    ['an unknown session', 'nobody', { id: 'p' }, 404],
    ['a good one', 's1', { id: 'p-1', text: 'fix the build' }, 200],
  ]
  for (const [name, session, body, status] of rows) t.equal((await stack.admin('PUT', `/v1/sessions/${session}/prompt`, body)).status, status, name)
  const listed = (await stack.admin('GET', '/v1/sessions')).json?.sessions as { id: string; prompt_id?: string }[]
  t.equal(listed.find((s) => s.id === 's1')?.prompt_id, 'p-1', 'the list shows the prompt in effect')
  t.equal((await stack.admin('PUT', '/v1/sessions/%E0%A4%A/prompt', { id: 'p' })).status, 400, 'a malformed percent-encoding is a 400, not a crash')
  t.equal((await stack.admin('GET', '/healthz', undefined, null)).status, 200)
})

t.test('a client that sends half a body and hangs up does not take the admin listener down', async (t) => {
  const stack = await startEventsStack(t)
  const { port } = new URL(stack.adminUrl)
  await new Promise<void>((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":`)
      setTimeout(() => (socket.destroy(), resolve()), 50)
    })
  })
  t.equal((await stack.admin('GET', '/v1/sessions')).status, 200)
  // and the proxy listener still proxies
  const origin = await startHttpOrigin(t)
  const res = await curl(['-x', stack.proxyUrl, '-o', '/dev/null', '-w', '%{http_code}', origin.url('/', 'origin.test')])
  t.equal(res.stdout.toString(), '200')
})
