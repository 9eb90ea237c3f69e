/** The webhook approver end to end: a real receiver verifies the signature, decides at once, later, or fails in every way we promise to fail closed. */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { createLogger } from '../../../proxy/logger.js'
import { readWebhookAnswer } from '../../../proxy/approvals/webhook-answer.js'
import type { WebhookDelivery } from '../../../proxy/approvals/webhook-approver.js'
import { closedPort, curl } from '../../helpers/clients.js'
import { listenOn, startHttpOrigin } from '../../helpers/origins.js'
import { startStack, type Stack } from '../../helpers/start-stack.js'


const SECRET_ENV = 'GUARDED_TEST_WEBHOOK_SECRET'
const SECRET = randomBytes(24).toString('hex')
const PINS = { 'approve.test': '127.0.0.1' }

/** What the receiver saw: the raw delivery and what its own verification concluded. */
interface Received {
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly verdict: string
  readonly delivery: WebhookDelivery
}

/**
 * The README's receiver check, written here from the spec rather than by importing our signer, so a
 * bug shared by signer and verifier cannot pass: HMAC over `${timestamp}.${body}`, 5 minutes of skew.
 */
function verify(secret: string, headers: IncomingHttpHeaders, body: string, nowSeconds: number): string {
  const timestamp = String(headers['x-guarded-timestamp'] ?? '')
  const signature = Buffer.from(String(headers['x-guarded-signature'] ?? ''))
  if (!/^\d+$/.test(timestamp)) return 'no timestamp'
  if (Math.abs(nowSeconds - Number(timestamp)) > 300) return 'stale timestamp'
  const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`)
  return signature.length === expected.length && timingSafeEqual(signature, expected) ? 'ok' : 'bad signature'
}

type Answer = (received: Received, res: ServerResponse) => void

/** A webhook receiver on 127.0.0.1:0: verifies, records, and answers a bad signature with 401 before `answer` sees it. */
async function startReceiver(t: Test, answer: Answer): Promise<{ url: string; received: Received[]; clock: { seconds: () => number } }> {
  const received: Received[] = []
  const clock = { seconds: () => Math.floor(Date.now() / 1000) }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const entry: Received = { headers: req.headers, body, verdict: verify(SECRET, req.headers, body, clock.seconds()), delivery: JSON.parse(body) as WebhookDelivery }
      received.push(entry)
      if (entry.verdict !== 'ok') return void res.writeHead(401).end(entry.verdict)
      answer(entry, res)
    })
  })
  const port = await listenOn(server, t)
  return { url: `http://127.0.0.1:${port}/hook`, received, clock }
}

const json = (res: ServerResponse, status: number, value: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))

function policy(url: string, webhookTimeout = '2s', extra: readonly string[] = []): string {
  return [
    'version: 1',
    'default: ask',
    'allow_private:',
    '  - 127.0.0.0/8',
    'approval:',
    '  timeout: 30s', // far longer than any test waits: a quick refusal is the webhook's doing, not the registry's
    '  approvers: [webhook, api]',
    '  webhook:',
    `    url: ${url}`,
    `    secret_env: ${SECRET_ENV}`,
    `    timeout: ${webhookTimeout}`,
    ...extra,
    '',
  ].join('\n')
}

/** The proxy's operational log lines, parsed. */
function captureLog(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    },
  })
  return { logger: createLogger(sink), lines }
}

/** GET through the proxy with curl; status, headers and body as curl printed them. */
async function getVia(stack: Stack, target: string): Promise<{ status: number; headers: Record<string, string>; body: string; ms: number }> {
  const started = Date.now()
  const res = await curl(['-i', '-x', stack.url, target])
  const text = res.stdout.toString()
  const split = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n')
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4), ms: Date.now() - started }
}

async function adminToken(stack: Stack): Promise<string> {
  return (await readFile(stack.proxy.adminToken.file, 'utf8')).trim()
}

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('a synchronous allow releases the parked request; the delivery is signed, current and describes the approval', async (t) => {
  const origin = await startHttpOrigin(t)
  const receiver = await startReceiver(t, (r, res) => json(res, 200, { approval_id: r.delivery.approval.id, decision: 'allow', scope: 'once' }))
  const stack = await startStack(t, { policy: policy(receiver.url), resolve: PINS, env: { [SECRET_ENV]: SECRET } })
  const res = await getVia(stack, origin.url('/released', 'approve.test'))
  t.equal(res.status, 200)
  t.match(res.body, /origin saw GET \/released/)
  t.match(stack.records.last(), { 'guarded.verdict': 'allow', 'guarded.approval.by': 'webhook', 'guarded.approval.scope': 'once' })

  t.equal(receiver.received.length, 1)
  const [first] = receiver.received
  t.equal(first?.verdict, 'ok', 'the receiver verified the signature with the secret the proxy was given')
  t.equal(first?.headers['content-type'], 'application/json')
  t.ok(Math.abs(Number(first?.headers['x-guarded-timestamp']) - Date.now() / 1000) < 10, 'the timestamp is now, in unix seconds')
  t.match(first?.headers['x-guarded-delivery'], /^[0-9a-f-]{36}$/)
  t.match(first?.delivery, { type: 'approval.requested', delivery_id: first?.headers['x-guarded-delivery'], approval: { host: 'approve.test', port: origin.port, session_id: 'default' } })
  t.equal(first?.delivery.admin_url, `${stack.proxy.admin.url}/v1/approvals/${first?.delivery.approval.id}`)
})

t.test('a synchronous deny refuses with approval-denied, by webhook', async (t) => {
  const origin = await startHttpOrigin(t)
  const receiver = await startReceiver(t, (r, res) => json(res, 200, { approval_id: r.delivery.approval.id, decision: 'deny', scope: 'session' }))
  const stack = await startStack(t, { policy: policy(receiver.url), resolve: PINS, env: { [SECRET_ENV]: SECRET } })
  const res = await getVia(stack, origin.url('/', 'approve.test'))
  t.equal(res.status, 403)
  t.equal(res.headers['x-guarded-decision'], 'approval-denied')
  t.match(stack.records.last(), { 'guarded.reason': 'approval-denied', 'guarded.approval.by': 'webhook', 'guarded.approval.scope': 'session' })
  t.equal(origin.seen.length, 0)
})

t.test('202 leaves the request parked until the admin API settles it at admin_url', async (t) => {
  const origin = await startHttpOrigin(t)
  const receiver = await startReceiver(t, (_r, res) => void res.writeHead(202).end())
  const stack = await startStack(t, { policy: policy(receiver.url), resolve: PINS, env: { [SECRET_ENV]: SECRET } })
  const parked = getVia(stack, origin.url('/later', 'approve.test'))
  const delivery = await until(() => receiver.received[0]?.delivery, 'the delivery')
  const auth = { authorization: `Bearer ${await adminToken(stack)}` }
  await new Promise((r) => setTimeout(r, 300)) // long enough that a wrongly failed approval would already be gone
  const listed = (await (await request(`${stack.proxy.admin.url}/v1/approvals`, { headers: auth })).body.json()) as { pending: { id: string }[] }
  t.same(listed.pending.map((p) => p.id), [delivery.approval.id], 'still pending after the 202')

  const settled = await request(delivery.admin_url ?? '', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ decision: 'allow', scope: 'once' }) })
  t.equal(settled.statusCode, 200)
  await settled.body.dump()
  const res = await parked
  t.equal(res.status, 200)
  t.match(stack.records.last(), { 'guarded.verdict': 'allow', 'guarded.approval.by': 'api:admin' })
})

t.test('after the reviewer escalates, the webhook gets the approval with the review, and can allow it', async (t) => {
  const origin = await startHttpOrigin(t)
  const receiver = await startReceiver(t, (r, res) => json(res, 200, { approval_id: r.delivery.approval.id, decision: 'allow' }))
  const reviewer = ['  reviewer:', '    command: builtin', '    approve: [low]']
  const stack = await startStack(t, { policy: policy(receiver.url, '2s', reviewer), resolve: PINS, env: { [SECRET_ENV]: SECRET } })
  t.equal((await getVia(stack, origin.url('/', 'approve.test'))).status, 200)
  t.match(receiver.received[0]?.delivery.approval, { host: 'approve.test', review: { risk: 'high', rationale: /no rule knows this host.*port \d+ is not a standard web port/ } })
  t.match(stack.records.last(), { 'guarded.verdict': 'allow', 'guarded.approval.by': 'webhook' })
})

/** Every way a webhook can fail, each refused fast with approval-error and the reason in the body and the log. */
const FAILURES: { name: string; answer?: Answer; timeout?: string; detail: RegExp }[] = [
  { name: 'unreachable (a closed port)', detail: /the webhook at http:\/\/127\.0\.0\.1:\d+ is unreachable: .*ECONNREFUSED/ },
  { name: 'HTTP 500', answer: (_r, res) => void res.writeHead(500).end('boom'), detail: /answered HTTP 500/ },
  { name: 'a 302 redirect (never followed)', answer: (_r, res) => void res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end(), detail: /answered HTTP 302/ },
  { name: 'invalid JSON', answer: (_r, res) => void res.writeHead(200).end('allow, I guess'), detail: /answer is not JSON: "allow, I guess"/ },
  { name: 'an allow for another approval id', answer: (_r, res) => json(res, 200, { approval_id: 'someone-else', decision: 'allow' }), detail: /answered for approval "someone-else", not [0-9a-f-]{36}/ },
  { name: 'an answer without an id', answer: (_r, res) => json(res, 200, { decision: 'allow' }), detail: /answered for approval undefined/ },
  { name: 'an unknown decision', answer: (r, res) => json(res, 200, { approval_id: r.delivery.approval.id, decision: 'yes' }), detail: /"decision" must be "allow" or "deny", got "yes"/ },
  { name: 'an answer over 64 KiB', answer: (r, res) => json(res, 200, { approval_id: r.delivery.approval.id, decision: 'allow', pad: 'x'.repeat(70_000) }), detail: /larger than 65536 bytes/ },
  { name: 'a receiver slower than the webhook timeout', answer: () => {}, timeout: '300ms', detail: /did not answer within 300 ms/ },
]

for (const failure of FAILURES) {
  t.test(`fails closed when the webhook gives ${failure.name}`, async (t) => {
    const origin = await startHttpOrigin(t)
    const url = failure.answer ? (await startReceiver(t, failure.answer)).url : `http://127.0.0.1:${await closedPort()}/hook`
    const log = captureLog()
    const stack = await startStack(t, { policy: policy(url, failure.timeout), resolve: PINS, env: { [SECRET_ENV]: SECRET }, logger: log.logger })
    const res = await getVia(stack, origin.url('/', 'approve.test'))
    t.equal(res.status, 403)
    t.equal(res.headers['x-guarded-decision'], 'approval-error')
    t.match(res.body, failure.detail, 'the client is told why')
    t.ok(res.ms < 3_000, `refused in ${res.ms} ms, long before the 30 s approval timeout`)
    t.match(stack.records.last(), { 'guarded.verdict': 'deny', 'guarded.reason': 'approval-error', 'guarded.approval.by': 'webhook' })
    t.match(log.lines.find((l) => l.approval_id !== undefined), { level: 40, detail: failure.detail }, 'the operational log says why')
    t.same(stack.proxy.approvals.list(), [], 'nothing is left pending')
    t.equal(origin.seen.length, 0)
  })
}

t.test('a missing secret is logged at start, nothing unsigned is ever sent, and approvals fail closed', async (t) => {
  const origin = await startHttpOrigin(t)
  const receiver = await startReceiver(t, (r, res) => json(res, 200, { approval_id: r.delivery.approval.id, decision: 'allow' }))
  const log = captureLog()
  const stack = await startStack(t, { policy: policy(receiver.url), resolve: PINS, env: { [SECRET_ENV]: '' }, logger: log.logger })
  t.match(log.lines.find((l) => l.problem !== undefined), { level: 50, problem: /GUARDED_TEST_WEBHOOK_SECRET is not set/ })
  const res = await getVia(stack, origin.url('/', 'approve.test'))
  t.equal(res.status, 403)
  t.equal(res.headers['x-guarded-decision'], 'approval-error')
  t.match(res.body, /GUARDED_TEST_WEBHOOK_SECRET is not set/)
  t.equal(receiver.received.length, 0)
})

t.test('a receiver can reject replays: the timestamp is signed, so an old delivery cannot be refreshed', async (t) => {
  const origin = await startHttpOrigin(t)
  const receiver = await startReceiver(t, (r, res) => json(res, 200, { approval_id: r.delivery.approval.id, decision: 'allow' }))
  const stack = await startStack(t, { policy: policy(receiver.url), resolve: PINS, env: { [SECRET_ENV]: SECRET } })
  t.equal((await getVia(stack, origin.url('/', 'approve.test'))).status, 200)
  const original = receiver.received[0]
  if (!original) throw new Error('no delivery')
  const resend = async (headers: Record<string, string>): Promise<{ status: number; text: string }> => {
    const res = await request(receiver.url, { method: 'POST', headers, body: original.body })
    return { status: res.statusCode, text: await res.body.text() }
  }
  const signed = { 'content-type': 'application/json', 'x-guarded-timestamp': String(original.headers['x-guarded-timestamp']), 'x-guarded-signature': String(original.headers['x-guarded-signature']) }

  t.match(await resend(signed), { status: 200 }, 'verbatim and within 5 minutes: accepted (the check is not rejecting everything)')
  const later = Math.floor(Date.now() / 1000) + 6 * 60
  receiver.clock.seconds = () => later
  t.match(await resend(signed), { status: 401, text: 'stale timestamp' }, 'the same bytes six minutes later: rejected')
  t.match(await resend({ ...signed, 'x-guarded-timestamp': String(later) }), { status: 401, text: 'bad signature' }, 'a fresh timestamp on the old signature: rejected')
})

t.test('readWebhookAnswer: the answer table', async (t) => {
  const id = 'a1'
  const rows: [status: number, body: string, expected: object, why: string][] = [
    [200, '{"approval_id":"a1","decision":"allow","scope":"always"}', { kind: 'decide', decision: 'allow', scope: 'always' }, 'a full answer'],
    [200, '{"approval_id":"a1","decision":"deny"}', { kind: 'decide', decision: 'deny', scope: 'once' }, 'scope defaults to once, like the admin API'],
    [202, 'anything', { kind: 'later' }, '202 ignores the body'],
    [200, '{"approval_id":"a1","decision":"allow","scope":"forever"}', { kind: 'invalid', detail: /"scope" must be/ }, 'an unknown scope'],
    [200, '["a1","allow"]', { kind: 'invalid', detail: /not a JSON object/ }, 'an array'],
    [200, 'null', { kind: 'invalid', detail: /not a JSON object/ }, 'null'],
    [204, '', { kind: 'invalid', detail: /HTTP 204/ }, 'only 200 and 202 mean anything'],
    [200, '', { kind: 'invalid', detail: /not JSON/ }, 'an empty 200'],
  ]
  for (const [status, body, expected, why] of rows) t.match(readWebhookAnswer(status, body, id), expected, why)
})
