/**
 * The approval machinery end to end, in-process: real curl and undici clients parked on unknown
 * destinations and released by approvers through the admin API, timeouts, failures, dedupe, scopes, bounds.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { RegistryEvent } from '../../../proxy/approvals/create-registry.js'
import type { Lookup } from '../../../proxy/resolver.js'
import { startHttpOrigin } from '../../helpers/origins.js'
import { startServe } from '../../helpers/run-cli.js'
import { startStack, type Stack, type StackOptions } from '../../helpers/start-stack.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { adminOf, agentFor, curlVia, undiciVia, waitFor, type Admin } from './admin.js'

const POLICY = `version: 1
default: ask
allow:
  - "origin.test:*"
allow_private:
  - 127.0.0.0/8
`
const PINS = { 'origin.test': '127.0.0.1', 'parked.test': '127.0.0.1', 'other.test': '127.0.0.1', 'always.test': '127.0.0.1' }

/** A proxy whose unknown destinations are offered to the API approver, and its admin client. */
async function approvalStack(t: Test, options: Partial<StackOptions> = {}): Promise<Stack & { admin: Admin; offered: RegistryEvent[]; settled: RegistryEvent[] }> {
  const stack = await startStack(t, { policy: POLICY, resolve: PINS, ...options, approval: { approvers: ['api'], timeoutMs: 10_000, ...options.approval } })
  const admin = await adminOf(stack.proxy.admin.url, stack.proxy.adminToken.file)
  const offered: RegistryEvent[] = []
  const settled: RegistryEvent[] = []
  t.teardown(stack.proxy.approvals.subscribe((e) => (e.type === 'offered' ? offered : settled).push(e)))
  return { ...stack, admin, offered, settled }
}

/** The decision events the proxy emitted for `host`. */
const decisionsFor = (stack: Stack, host: string) => stack.records.decisions().filter((d) => d['server.address'] === host)

t.test('a parked curl (CONNECT) and a parked undici request (absolute-form) are both released by one allow', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t)
  const started = Date.now()
  const viaCurl = curlVia(stack.url, origin.url('/c', 'parked.test'), true)
  const viaUndici = undiciVia(agentFor(t, stack.url), origin.url('/u', 'parked.test'))
  const approval = await stack.admin.waitForPending('parked.test', 2)
  t.equal(approval.port, origin.port)
  t.equal(origin.seen.length, 0, 'nothing reached the origin while parked')
  t.equal(stack.offered.length, 1, 'two requests to one destination are one approval')
  await new Promise((resolve) => setTimeout(resolve, 100))
  const settled = await stack.admin.decide(approval.id, 'allow', 'once', 'cli')
  t.match(settled, { decision: 'allow', scope: 'once', by: 'cli', waiting: 2 })
  t.match(await viaCurl, { status: 200, body: 'origin saw GET /c 0' })
  t.match(await viaUndici, { status: 200, body: 'origin saw GET /u 0' })
  const elapsed = Date.now() - started
  const events = decisionsFor(stack, 'parked.test')
  t.equal(events.length, 2)
  for (const e of events) {
    t.match(e, { 'guarded.verdict': 'allow', 'guarded.classification': 'unknown', 'guarded.approval.by': 'cli', 'guarded.approval.scope': 'once' })
    t.match(e, { 'guarded.reason': 'approved' }, 'the event says an approver allowed it')
    t.ok(e['guarded.approval.latency_ms']! >= 100 && e['guarded.approval.latency_ms']! <= elapsed, `latency ${e['guarded.approval.latency_ms']} ms is the time it was parked`)
  }
  t.same(await stack.admin.recent().then((r) => r.map((a) => a.by)), ['cli'], 'the decision is in the recent list')

  const again = undiciVia(agentFor(t, stack.url), origin.url('/again', 'parked.test'))
  const second = await stack.admin.waitForPending('parked.test')
  t.not(second.id, approval.id, '"once" reaches only the requests that were waiting: the next one asks again')
  await stack.admin.decide(second.id, 'deny')
  t.match(await again, { status: 403, decision: 'approval-denied' })
})

t.test('a deny refuses both parked clients with 403 approval-denied, and names the API as the decider', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t)
  const viaCurl = curlVia(stack.url, origin.url('/c', 'parked.test'))
  const viaUndici = undiciVia(agentFor(t, stack.url), origin.url('/u', 'parked.test'))
  const approval = await stack.admin.waitForPending('parked.test', 2)
  await stack.admin.decide(approval.id, 'deny', 'once', 'none-of-the-known-tools')
  for (const answer of [await viaCurl, await viaUndici]) {
    t.match(answer, { status: 403, decision: 'approval-denied' })
    t.match(answer.body, /an approver denied this destination/)
  }
  t.equal(origin.seen.length, 0)
  t.match(decisionsFor(stack, 'parked.test'), [
    { 'guarded.verdict': 'deny', 'guarded.reason': 'approval-denied', 'guarded.approval.by': 'api:admin', 'guarded.approval.scope': 'once' },
    { 'guarded.verdict': 'deny', 'guarded.reason': 'approval-denied', 'guarded.approval.by': 'api:admin' },
  ])
})

t.test('with no decision in time the request fails closed: 403 approval-timeout, in the events and the stream', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t, { approval: { timeoutMs: 300 } })
  const started = Date.now()
  const answer = await curlVia(stack.url, origin.url('/', 'parked.test'))
  const elapsed = Date.now() - started
  t.match(answer, { status: 403, decision: 'approval-timeout' })
  t.match(answer.body, /no decision within 300 ms/)
  t.ok(elapsed >= 290 && elapsed < 3_000, `refused after ${elapsed} ms`)
  t.match(stack.records.last(), { 'server.address': 'parked.test', 'guarded.verdict': 'deny', 'guarded.reason': 'approval-timeout', 'guarded.approval.by': 'timeout' })
  t.match(stack.settled, [{ type: 'settled', approval: { host: 'parked.test', decision: 'deny', by: 'timeout' } }])
  t.same(await stack.admin.pending(), [], 'a timed-out approval is no longer listed')
  t.equal(origin.seen.length, 0)
})

t.test('an approver that fails fails the approval closed: every waiter gets 403 approval-error', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t)
  const first = curlVia(stack.url, origin.url('/1', 'parked.test'))
  const second = undiciVia(agentFor(t, stack.url), origin.url('/2', 'parked.test'))
  const approval = await stack.admin.waitForPending('parked.test', 2)
  stack.proxy.approvals.fail(approval.id, 'webhook', 'the webhook answered 500')
  for (const answer of [await first, await second]) {
    t.match(answer, { status: 403, decision: 'approval-error' })
    t.match(answer.body, /the webhook answered 500/)
  }
  t.match(decisionsFor(stack, 'parked.test'), [{ 'guarded.reason': 'approval-error', 'guarded.approval.by': 'webhook' }, { 'guarded.reason': 'approval-error' }])
  t.equal((await stack.admin.decide(approval.id, 'allow').catch((e: Error) => e)) instanceof Error, true, 'a failed approval cannot be decided afterwards')
})

t.test('100 concurrent requests to one host are one approval with waiting 100, all released by one decision', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t, { approval: { maxPendingPerSession: 200 } })
  const agent = agentFor(t, stack.url)
  const answers = Array.from({ length: 100 }, (_, i) => undiciVia(agent, origin.url(`/${i}`, 'parked.test')))
  const approval = await stack.admin.waitForPending('parked.test', 100)
  t.equal(approval.waiting, 100)
  t.equal((await stack.admin.pending()).length, 1)
  t.equal(stack.offered.length, 1, 'approvers were offered it once')
  await stack.admin.decide(approval.id, 'allow')
  const results = await Promise.all(answers)
  t.equal(results.filter((r) => r.status === 200).length, 100)
  t.equal(origin.seen.length, 100)
  t.equal(stack.proxy.approvals.parkedCount(), 0)
})

t.test('a client that leaves while parked is dropped; the approval stays listed, and a late decision applies to the next request', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t)
  const agent = agentFor(t, stack.url)
  const leaving = [new AbortController(), new AbortController()]
  const parked = leaving.map((c, i) => undiciVia(agent, origin.url(`/${i}`, 'parked.test'), c.signal).catch((err: Error) => err))
  const approval = await stack.admin.waitForPending('parked.test', 2)
  leaving[0]!.abort()
  await waitFor(async () => (await stack.admin.pending())[0]?.waiting === 1, 'waiting to drop to 1')
  leaving[1]!.abort()
  await waitFor(async () => (await stack.admin.pending())[0]?.waiting === 0, 'waiting to drop to 0')
  t.match(await Promise.all(parked), [{ name: 'AbortError' }, { name: 'AbortError' }])
  t.equal((await stack.admin.pending())[0]?.id, approval.id, 'still listed until its timeout')
  t.equal(stack.proxy.approvals.parkedCount(), 0, 'nothing holds a parked slot')

  await stack.admin.decide(approval.id, 'allow')
  const next = await undiciVia(agent, origin.url('/next', 'parked.test'))
  t.match(next, { status: 200, body: 'origin saw GET /next 0' }, 'the decision nobody was waiting for lets the next request through')
  t.match(stack.records.last(), { 'guarded.verdict': 'allow', 'guarded.approval.by': 'cli', 'guarded.approval.scope': 'once', 'guarded.approval.latency_ms': 0 })
  t.match(stack.records.last(), { 'guarded.reason': 'approved' }, 'the event says an approver allowed it')
  const after = undiciVia(agent, origin.url('/after', 'parked.test'))
  const asked = await stack.admin.waitForPending('parked.test')
  t.not(asked.id, approval.id, 'it was used up by that one request')
  await stack.admin.decide(asked.id, 'deny')
  t.equal((await after).status, 403)
})

t.test('scope session lets the rest of that session straight through, not another session, and ends with the session', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t)
  const session = async (id: string): Promise<string> => {
    const res = await stack.admin.call<{ proxy_url: string }>('POST', '/v1/sessions', { id })
    t.equal(res.status, 201)
    return res.body.proxy_url
  }
  const alpha = await session('alpha')
  const beta = await session('beta')
  const first = curlVia(alpha, origin.url('/1', 'parked.test'))
  const approval = await stack.admin.waitForPending('parked.test', 1, 'alpha')
  await stack.admin.decide(approval.id, 'allow', 'session')
  t.equal((await first).status, 200)

  t.match(await curlVia(alpha, origin.url('/2', 'parked.test')), { status: 200, body: 'origin saw GET /2 0' })
  t.match(stack.records.last(), { 'session.id': 'alpha', 'guarded.verdict': 'allow', 'guarded.approval.scope': 'session', 'guarded.approval.latency_ms': 0 })
  t.match(stack.records.last(), { 'guarded.reason': 'approved' }, 'the event says an approver allowed it')
  t.equal(stack.offered.length, 1, 'the second request of alpha was not offered to anyone')

  const other = curlVia(beta, origin.url('/3', 'parked.test'))
  const betaApproval = await stack.admin.waitForPending('parked.test', 1, 'beta')
  t.equal(betaApproval.session_id, 'beta', 'the grant does not leak to another session')
  await stack.admin.decide(betaApproval.id, 'deny')
  t.match(await other, { status: 403, decision: 'approval-denied' })

  t.equal((await stack.admin.call('DELETE', '/v1/sessions/alpha')).status, 200)
  const again = curlVia(await session('alpha'), origin.url('/4', 'parked.test'))
  const reasked = await stack.admin.waitForPending('parked.test', 1, 'alpha')
  t.not(reasked.id, approval.id, 'a new session under the old id starts without the old grants')
  await stack.admin.decide(reasked.id, 'deny')
  t.equal((await again).status, 403)
})

t.test('an always decision is written to the decisions file and survives a restart of the proxy', async (t) => {
  const origin = await startHttpOrigin(t)
  const dir = await tempDir(t, 'guarded-decisions-')
  const decisionsFile = join(dir, 'decisions.yaml')
  const stack = await approvalStack(t, { decisionsFile })
  const parked = curlVia(stack.url, origin.url('/1', 'always.test'))
  const approval = await stack.admin.waitForPending('always.test')
  await stack.admin.decide(approval.id, 'allow', 'always')
  t.equal((await parked).status, 200)
  const text = await waitFor(() => readFile(decisionsFile, 'utf8').catch(() => undefined), 'the decisions file')
  t.match(text, new RegExp(`- always\\.test:${origin.port} # allow by cli at \\S+ \\(session default\\)`))
  const beta = (await stack.admin.call<{ proxy_url: string }>('POST', '/v1/sessions', { id: 'beta' })).body.proxy_url
  await waitFor(async () => (await curlVia(beta, origin.url('/2', 'always.test'))).status === 200, 'another session to be allowed by the reloaded policy', 30_000) // the reload compiles in a worker, which loads TypeScript from source under tap
  t.match(stack.records.last(), { 'session.id': 'beta', 'guarded.reason': 'allowed', 'guarded.rule': `always.test:${origin.port}` })
  await stack.proxy.close()

  // A new process on the same files: no approver at all, so anything still unknown is refused at once.
  const runtime = await tempDir(t, 'guarded-runtime-')
  const child = await startServe(t, ['--policy', stack.policyFile, '--decisions', decisionsFile, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', 'always.test=127.0.0.1', '--resolve', 'other.test=127.0.0.1'], { ...process.env, XDG_RUNTIME_DIR: runtime })
  t.match(await curlVia(child.proxyUrl, origin.url('/3', 'always.test')), { status: 200, body: 'origin saw GET /3 0' }, 'allowed without asking')
  t.match(await curlVia(child.proxyUrl, origin.url('/4', 'other.test')), { status: 403, decision: 'approval-required' }, 'while a host never decided still needs an approval')
  child.child.kill('SIGTERM')
  await child.exited
})

t.test('a flood of 500 distinct hosts from one session: 20 parked, the rest refused at once, memory and descriptors bounded', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await approvalStack(t, { approval: { maxPendingPerSession: 20 } })
  const agent = agentFor(t, stack.url)
  const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length
  const baseline = await fds()
  const heap = process.memoryUsage().heapUsed
  const leave = new AbortController()
  t.teardown(() => leave.abort())
  const started = Date.now()
  const answers = Array.from({ length: 500 }, (_, i) => undiciVia(agent, origin.url('/', `h${i}.flood.test`), leave.signal, true).catch((err: Error) => err))
  const refused = await waitFor(() => (stack.records.decisions().length >= 500 - 20 ? stack.records.decisions() : undefined), '480 refusals', 10_000)
  const elapsed = Date.now() - started
  t.equal(refused.length, 480)
  t.ok(refused.every((d) => d['guarded.reason'] === 'approval-queue-full'), 'every one past the bound is approval-queue-full')
  t.ok(refused.every((d) => d['guarded.approval.latency_ms'] === 0), 'refused at once, never parked')
  // The bound is the approval timeout: a refusal that waited for room would take 10 s. (500 connections
  // in one process take 2-3 s on a busy CI machine whatever the policy, so a tighter wall clock is noise.)
  t.ok(elapsed < 8_000, `480 refusals in ${elapsed} ms`)
  t.equal(stack.proxy.approvals.parkedCount(), 20)
  t.equal((await stack.admin.pending()).length, 20)
  const settledAnswers = await waitFor(async () => {
    const done = (await Promise.race([Promise.all(answers.map((a) => Promise.race([a, Promise.resolve(undefined)])))])).filter((a) => a !== undefined)
    return done.length >= 480 ? done : undefined
  }, 'the clients to hear their refusals')
  t.ok(settledAnswers.every((a) => !(a instanceof Error) && a.status === 429 && a.decision === 'approval-queue-full'))
  // Parked: client and proxy ends of 20 sockets in this one process; refused connections are closed.
  await waitFor(async () => (await fds()) <= baseline + 2 * 20 + 20, 'descriptors to come back down', 5_000)
  t.ok(process.memoryUsage().heapUsed - heap < 64 * 1024 * 1024, 'the flood cost less than 64 MB of heap')
  t.equal(origin.seen.length, 0)
})

t.test('a parked name is never looked up in DNS, and an allowed one is looked up only after the allow', async (t) => {
  const origin = await startHttpOrigin(t)
  const lookedUp: string[] = []
  const lookup: Lookup = async (host) => {
    lookedUp.push(host)
    return [{ address: '127.0.0.1', family: 4 }]
  }
  const stack = await approvalStack(t, { resolve: { 'origin.test': '127.0.0.1' }, lookup })
  const allowed = curlVia(stack.url, origin.url('/', 'dns-allowed.test'))
  const denied = curlVia(stack.url, origin.url('/', 'dns-denied.test'))
  const toAllow = await stack.admin.waitForPending('dns-allowed.test')
  const toDeny = await stack.admin.waitForPending('dns-denied.test')
  t.same(lookedUp, [], 'nothing was resolved while parked')
  await stack.admin.decide(toDeny.id, 'deny')
  t.equal((await denied).status, 403)
  await stack.admin.decide(toAllow.id, 'allow')
  t.equal((await allowed).status, 200)
  t.same(lookedUp, ['dns-allowed.test'], 'only the allowed name, once, after the allow')
})
