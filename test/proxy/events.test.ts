/** Prompts and what the records say about them: set by an admin, by the session from inside, or per request; the status page; metrics that never carry them; spans that join the agent's trace. */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { curl } from '../helpers/clients.js'
import { callAdmin, EVENTS_POLICY, readAuditLines, startEventsStack, waitForAudit } from '../helpers/events-stack.js'
import { startHttpOrigin, type HttpOrigin } from '../helpers/origins.js'
import { startServe, type ServeChild } from '../helpers/run-cli.js'
import { tempDir } from '../helpers/temp-dir.js'
import { startOtlpReceiver, type OtlpReceiver } from './sinks/otlp-receiver.js'
import { parseProm } from './sinks/prom-text.js'

/** The attribute keys a security engineer greps the audit log and spans for. */
const AUDIT_KEYS = ['session.id', 'guarded.prompt.id', 'guarded.prompt.source', 'server.address', 'server.port', 'network.peer.address', 'http.request.method', 'guarded.classification', 'guarded.verdict', 'guarded.reason', 'guarded.rule', 'client.address'] as const

async function get(proxyUrl: string, url: string, headers: string[] = []): Promise<{ status: number; body: string }> {
  const res = await curl(['-x', proxyUrl, '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url])
  const text = res.stdout.toString()
  const cut = text.lastIndexOf('\n')
  return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut) }
}

async function putPrompt(proxyUrl: string, body: object): Promise<{ status: number; body: string }> {
  const res = await curl(['-x', proxyUrl, '-X', 'PUT', '-H', 'content-type: application/json', '--data-binary', JSON.stringify(body), '-w', '\n%{http_code}', 'http://guarded.internal/v1/prompt'])
  const text = res.stdout.toString()
  const cut = text.lastIndexOf('\n')
  return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut) }
}

t.test('a prompt set by the admin API is on the next request of that session only, with source admin', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const a = await stack.createSession({ id: 'a' })
  const b = await stack.createSession({ id: 'b' })
  t.equal((await get(a.proxy_url, origin.url('/before', 'origin.test'))).status, 200)
  const put = await stack.admin('PUT', '/v1/sessions/a/prompt', { id: 'prompt-1', text: 'refactor the parser' })
  t.same(put.json, { session: 'a', prompt_id: 'prompt-1' })
  t.equal((await get(a.proxy_url, origin.url('/after', 'origin.test'))).status, 200)
  t.equal((await get(b.proxy_url, origin.url('/other', 'origin.test'))).status, 200)
  await stack.waitForCloses(3)
  const [before, after, other] = stack.decisions()
  t.notOk(before?.['guarded.prompt.id'], 'no prompt before it was set')
  t.match(after, { 'session.id': 'a', 'guarded.prompt.id': 'prompt-1', 'guarded.prompt.source': 'admin', 'guarded.prompt.text': 'refactor the parser' })
  t.notOk(other?.['guarded.prompt.id'], "another session's requests do not carry it")
})

t.test('PUT http://guarded.internal/v1/prompt through the proxy sets the prompt of the calling session, source session', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const a = await stack.createSession({ id: 'inside' })
  const b = await stack.createSession({ id: 'bystander' })
  const put = await putPrompt(a.proxy_url, { id: 'task-7', text: 'add a test' })
  t.equal(put.status, 200, put.body)
  t.same(JSON.parse(put.body), { session: 'inside', prompt_id: 'task-7' })
  t.equal((await putPrompt(stack.proxyUrl, { id: 'nope' })).status, 407, 'no credentials: the internal host is behind auth too')
  t.equal((await putPrompt(a.proxy_url, { text: 'no id' })).status, 400, 'a bad body is a 400')
  t.equal((await get(a.proxy_url, origin.url('/work', 'origin.test'))).status, 200)
  t.equal((await get(b.proxy_url, origin.url('/idle', 'origin.test'))).status, 200)
  const closes = stack.closes().length
  await stack.waitForCloses(closes)
  const work = stack.decisions().find((d) => d['url.path'] === '/work')
  t.match(work, { 'session.id': 'inside', 'guarded.prompt.id': 'task-7', 'guarded.prompt.source': 'session' })
  t.notOk(stack.decisions().find((d) => d['url.path'] === '/idle')?.['guarded.prompt.id'])
  t.equal(origin.seen.length, 2, 'nothing of the internal calls reached an origin')
})

t.test('X-Guarded-Prompt-Id on plain HTTP: source header, for that request only, and the origin never sees it', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t)
  await stack.admin('PUT', '/v1/sessions/default/prompt', { id: 'session-prompt' })
  t.equal((await get(stack.proxyUrl, origin.url('/h', 'origin.test'), ['X-Guarded-Prompt-Id: hdr-9'])).status, 200)
  t.equal((await get(stack.proxyUrl, origin.url('/plain', 'origin.test'))).status, 200)
  const long = 'L'.repeat(300)
  t.equal((await get(stack.proxyUrl, origin.url('/long', 'origin.test'), [`X-Guarded-Prompt-Id: ${long}`])).status, 200)
  await stack.waitForCloses(3)
  const [h, plain, capped] = stack.decisions()
  t.match(h, { 'guarded.prompt.id': 'hdr-9', 'guarded.prompt.source': 'header' })
  t.match(plain, { 'guarded.prompt.id': 'session-prompt', 'guarded.prompt.source': 'admin' }, 'the header did not replace the session prompt')
  t.equal(capped?.['guarded.prompt.id'], 'L'.repeat(200), 'capped at 200 characters')
  for (const seen of origin.seen) {
    t.notOk(seen.headers['x-guarded-prompt-id'], `${seen.url}: header stripped`)
    t.notOk(seen.rawHeaders.some((h) => /prompt/i.test(h)), `${seen.url}: not in the raw headers either`)
  }
})

t.test('a prompt changed mid-session shows on the next request, on the same kept-alive connection', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t)
  const { ProxyAgent, request } = await import('undici')
  const agent = new ProxyAgent({ uri: stack.proxyUrl, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  const ids = ['p1', 'p2', 'p3']
  for (const id of ids) {
    await stack.admin('PUT', '/v1/sessions/default/prompt', { id })
    await (await request(origin.url(`/${id}`, 'origin.test'), { dispatcher: agent })).body.text()
  }
  await stack.waitForCloses(3)
  t.same(stack.decisions().map((d) => [d['url.path'], d['guarded.prompt.id']]), [['/p1', 'p1'], ['/p2', 'p2'], ['/p3', 'p3']])
})

t.test('GET http://guarded.internal/v1/status: the policy summary and this session’s refusals, with reasons', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required' })
  const a = await stack.createSession({ id: 'refused-a' })
  const b = await stack.createSession({ id: 'clean-b' })
  await stack.admin('PUT', '/v1/sessions/refused-a/prompt', { id: 'why' })
  t.equal((await get(a.proxy_url, 'http://x.blocked.test/')).status, 403)
  t.equal((await get(a.proxy_url, 'http://unknown.test/')).status, 403)
  t.equal((await get(a.proxy_url, origin.url('/fine', 'origin.test'))).status, 200)
  const status = await get(a.proxy_url, 'http://guarded.internal/v1/status')
  t.equal(status.status, 200)
  const body = JSON.parse(status.body) as Record<string, unknown>
  t.match(body, {
    session: 'refused-a',
    prompt_id: 'why',
    policy: { default: 'deny', allow: ['origin.test:*'], block: ['*.blocked.test'], note: /refused/ },
  })
  t.match(body.recent_refusals, [
    { destination: 'x.blocked.test:80', reason: 'blocked', rule: '*.blocked.test', time: String },
    { destination: 'unknown.test:80', reason: 'unknown' },
  ])
  t.equal((body.recent_refusals as unknown[]).length, 2, 'the allowed request is not a refusal')
  const other = JSON.parse((await get(b.proxy_url, 'http://guarded.internal/v1/status')).body) as Record<string, unknown>
  t.same(other.recent_refusals, [], "another session does not see this one's refusals")
  t.equal(other.prompt_id, null)
  t.equal((await get(a.proxy_url, 'http://guarded.internal/nothing')).status, 404)
  // The status requests are themselves recorded, as internal.
  await stack.waitForCloses(stack.closes().length)
  t.ok(stack.decisions().some((d) => d['server.address'] === 'guarded.internal' && d['guarded.reason'] === 'internal' && d['session.id'] === 'refused-a'))
})

t.test('the prompt text is in the audit log, but neither text, prompt id nor session id is in /metrics', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required', audit: {} })
  const s = await stack.createSession({ id: 'sess-metrics-7f3a' })
  const text = 'deploy with the key hunter2-SECRET-9d1c'
  await stack.admin('PUT', '/v1/sessions/sess-metrics-7f3a/prompt', { id: 'prompt-metrics-91c2', text })
  t.equal((await get(s.proxy_url, origin.url('/m', 'origin.test'))).status, 200)
  t.equal((await get(s.proxy_url, 'http://x.blocked.test/')).status, 403)
  const lines = await waitForAudit(stack.auditFile, (l) => l.filter((r) => r.type === 'close').length >= 2, 'two closes')
  t.match(lines[0], { 'guarded.prompt.id': 'prompt-metrics-91c2', 'guarded.prompt.text': text, 'session.id': 'sess-metrics-7f3a' })
  const metrics = await stack.admin('GET', '/metrics', undefined, null)
  const samples = parseProm(metrics.text)
  t.ok(samples.some((s) => s.name === 'guarded_decisions_total' && s.labels.verdict === 'allow' && s.value === 1), 'the allowed request was counted')
  t.ok(samples.some((s) => s.name === 'guarded_refusals_total' && s.labels.reason === 'blocked' && s.value === 1), 'the refusal was counted')
  for (const secret of ['hunter2', 'prompt-metrics-91c2', 'sess-metrics-7f3a', 'x.blocked.test', 'origin.test']) t.notMatch(metrics.text, secret, `${secret} is not in /metrics`)
})

t.test('redact_prompt_text in the policy keeps the text out of the audit log but the id in', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { audit: {}, policy: `${EVENTS_POLICY}audit:\n  redact_prompt_text: true\n` })
  await stack.admin('PUT', '/v1/sessions/default/prompt', { id: 'red-1', text: 'TOP-SECRET-TEXT' })
  await get(stack.proxyUrl, origin.url('/r', 'origin.test'))
  const lines = await waitForAudit(stack.auditFile, (l) => l.some((r) => r.type === 'close'), 'the close')
  t.equal(lines[0]?.['guarded.prompt.id'], 'red-1')
  t.notMatch(JSON.stringify(lines), 'TOP-SECRET-TEXT')
})

/**
 * `serve` with spans to a receiver and an audit log in a temp dir, for the end-to-end span tests;
 * `env` is added to the child's environment and `args` to its command line.
 */
async function serveWithSpans(t: Test, env: NodeJS.ProcessEnv, args: readonly string[] = []): Promise<{ serve: ServeChild; receiver: OtlpReceiver; origin: HttpOrigin; audit: string }> {
  const receiver = await startOtlpReceiver(t)
  const origin = await startHttpOrigin(t)
  const dir = await tempDir(t, 'guarded-spans-')
  await writeFile(join(dir, 'policy.yaml'), EVENTS_POLICY)
  const audit = join(dir, 'audit.jsonl')
  const serve = await startServe(t, ['--policy', join(dir, 'policy.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1', '--otlp-endpoint', receiver.url, '--audit-log', audit, ...args],
    { PATH: process.env.PATH ?? '', XDG_RUNTIME_DIR: dir, HOME: dir, ...env })
  return { serve, receiver, origin, audit }
}

/** Stops `serve` with SIGTERM, which exports what the batch processor holds, and checks it exits 0. */
async function stopServe(t: Test, serve: ServeChild): Promise<void> {
  serve.child.kill('SIGTERM')
  t.match(await serve.exited, { code: 0 })
}

t.test('OTEL_TRACES_SAMPLER end to end: spans only for what the sampler keeps; the audit log still has every request', async (t) => {
  const { serve, receiver, origin, audit } = await serveWithSpans(t, { OTEL_TRACES_SAMPLER: 'parentbased_always_off' })
  const traceId = '0af7651916cd43dd8448eb211c80319c'
  t.equal((await get(serve.proxyUrl, origin.url('/kept', 'origin.test'), [`traceparent: 00-${traceId}-b7ad6b7169203331-01`])).status, 200)
  t.equal((await get(serve.proxyUrl, origin.url('/unsampled', 'origin.test'), [`traceparent: 00-${traceId}-b7ad6b7169203331-00`])).status, 200)
  t.equal((await get(serve.proxyUrl, origin.url('/untraced', 'origin.test'))).status, 200)
  await stopServe(t, serve)
  t.same(receiver.spans().map((s) => s.attributes['url.path']), ['/kept'], 'one span: the request whose client trace is sampled')
  const paths = (await readAuditLines(audit)).filter((l) => l.type === 'decision').map((l) => l['url.path'])
  t.same(paths, ['/kept', '/unsampled', '/untraced'], 'sampling never touches the audit log')
})

t.test('spans end to end: serve --otlp-endpoint, a request with a traceparent becomes a span in that trace with the audit keys', async (t) => {
  const dir = await tempDir(t, 'guarded-token-')
  const token = 'spans-test-admin-token-0123456789'
  await writeFile(join(dir, 'admin-token'), `${token}\n`, { mode: 0o600 })
  const { serve, receiver, origin, audit } = await serveWithSpans(t, {}, ['--admin-token-file', join(dir, 'admin-token')])
  await callAdmin(serve.adminUrl, 'PUT', '/v1/sessions/default/prompt', { id: 'span-prompt', text: 'span secret text' }, token)
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
  const parentId = '00f067aa0ba902b7'
  t.equal((await get(serve.proxyUrl, origin.url('/traced', 'origin.test'), [`traceparent: 00-${traceId}-${parentId}-01`])).status, 200)
  t.equal((await get(serve.proxyUrl, 'http://x.blocked.test/', [`traceparent: 00-${traceId}-${parentId}-00`])).status, 403)
  await stopServe(t, serve)
  const spans = receiver.spans().filter((s) => s.traceId === traceId)
  t.equal(spans.length, 2, 'both requests, even the unsampled one, are spans in the trace')
  const allowed = spans.find((s) => s.attributes['guarded.verdict'] === 'allow')
  const denied = spans.find((s) => s.attributes['guarded.verdict'] === 'deny')
  t.equal(allowed?.parentSpanId, parentId, 'a child of the client span')
  t.equal(allowed?.resource['service.name'], 'guarded-proxy')
  const auditLines = await readAuditLines(audit)
  const decision = auditLines.find((l) => l.type === 'decision' && l['server.address'] === 'origin.test')
  for (const key of AUDIT_KEYS) {
    if (key === 'guarded.rule' || key === 'network.peer.address') continue
    t.equal(allowed?.attributes[key], decision?.[key], `allowed span ${key} equals the audit log's`)
  }
  t.equal(allowed?.attributes['network.peer.address'], '127.0.0.1')
  t.equal(allowed?.attributes['record.id'], decision?.['record.id'], 'record.id joins the span to its audit line')
  t.match(denied?.attributes, { 'guarded.rule': '*.blocked.test', 'guarded.reason': 'blocked' })
  t.equal(denied?.status?.code, 2, 'a refusal is an ERROR span')
  t.notOk(allowed?.attributes['guarded.prompt.text'], 'no prompt text on the span')
  t.match(allowed?.attributes['guarded.prompt.text_sha256'], /^[0-9a-f]{64}$/)
})
