/** The Prometheus sink: records in through a real bus, exposition text out, parsed and checked sample by sample. */
import t from 'tap'
import { createEventBus, type DecisionEvent, type EventBus } from '../../../proxy/events.js'
import type { AdminState } from '../../../proxy/create-admin-server.js'
import { createMetrics, type Metrics, type MetricsOptions } from '../../../proxy/sinks/metrics.js'
import { close, decision } from './events.js'
import { parseProm, sample, series, type Sample } from './prom-text.js'

function setup(options: MetricsOptions = { processMetrics: false }): { metrics: Metrics; bus: EventBus; scrape(): Promise<Sample[]> } {
  const metrics = createMetrics(options)
  const bus = createEventBus((err) => {
    throw err
  })
  bus.subscribe(metrics.sink)
  return { metrics, bus, scrape: async () => parseProm((await metrics.render()).body) }
}

t.test('counts decisions, refusals, bytes and durations with exactly the closed-set labels', async (t) => {
  const { bus, scrape } = setup()
  bus.emit(decision('a'))
  bus.emit(close('a', { 'guarded.bytes.sent': 100, 'guarded.bytes.received': 2000, 'guarded.duration_ms': 1500 }))
  bus.emit(decision('b', { 'record.kind': 'http', 'http.request.method': 'GET' }))
  bus.emit(close('b', { 'record.kind': 'http', 'guarded.bytes.sent': 10, 'guarded.bytes.received': 20, 'guarded.duration_ms': 20 }))
  bus.emit(decision('c', { 'record.kind': 'http', 'guarded.classification': 'blocked', 'guarded.verdict': 'deny', 'guarded.reason': 'blocked' }))
  bus.emit(close('c', { 'record.kind': 'http', 'guarded.outcome': 'refused', 'guarded.bytes.sent': 0, 'guarded.bytes.received': 0, 'guarded.duration_ms': 1 }))
  bus.emit(decision('d', { 'guarded.classification': 'unknown', 'guarded.verdict': 'deny', 'guarded.reason': 'unknown' }))
  // A malformed request: no destination, no classification.
  const malformed = decision('e', { 'record.kind': 'http', 'guarded.verdict': 'deny', 'guarded.reason': 'bad-request' })
  for (const key of ['server.address', 'server.port', 'guarded.classification', 'guarded.rule', 'http.request.method'] as const) delete (malformed as Partial<DecisionEvent>)[key]
  bus.emit(malformed)

  const s = await scrape()
  t.same(
    series(s, 'guarded_decisions_total').map((x) => [x.labels, x.value]),
    [
      [{ classification: 'allowed', verdict: 'allow', kind: 'connect' }, 1],
      [{ classification: 'allowed', verdict: 'allow', kind: 'http' }, 1],
      [{ classification: 'blocked', verdict: 'deny', kind: 'http' }, 1],
      [{ classification: 'unknown', verdict: 'deny', kind: 'connect' }, 1],
      [{ classification: 'none', verdict: 'deny', kind: 'http' }, 1],
    ],
  )
  t.equal(sample(s, 'guarded_refusals_total', { reason: 'blocked' }), 1)
  t.equal(sample(s, 'guarded_refusals_total', { reason: 'unknown' }), 1)
  t.equal(sample(s, 'guarded_refusals_total', { reason: 'bad-request' }), 1)
  t.equal(sample(s, 'guarded_refusals_total', { reason: 'private-address' }), 0, 'every refusal reason is exported from zero')
  t.equal(sample(s, 'guarded_refusals_total', { reason: 'allowed' }), undefined, 'an allow reason is never a refusal')
  t.equal(sample(s, 'guarded_sent_bytes_total', { kind: 'connect' }), 100)
  t.equal(sample(s, 'guarded_received_bytes_total', { kind: 'connect' }), 2000)
  t.equal(sample(s, 'guarded_sent_bytes_total', { kind: 'http' }), 10)
  t.equal(sample(s, 'guarded_received_bytes_total', { kind: 'http' }), 20)
  const connect = { kind: 'connect', outcome: 'completed' }
  t.equal(sample(s, 'guarded_connection_duration_seconds_count', connect), 1)
  t.equal(sample(s, 'guarded_connection_duration_seconds_sum', connect), 1.5)
  t.equal(sample(s, 'guarded_connection_duration_seconds_bucket', { ...connect, le: '1' }), 0)
  t.equal(sample(s, 'guarded_connection_duration_seconds_bucket', { ...connect, le: '5' }), 1)
  t.equal(sample(s, 'guarded_connection_duration_seconds_count', { kind: 'http', outcome: 'refused' }), 1)
  t.equal(sample(s, 'guarded_connection_duration_seconds_sum', { kind: 'http', outcome: 'completed' }), 0.02)
})

t.test('active tunnels rise on an allowed CONNECT or upgrade and fall on the close that carries its decision', async (t) => {
  const { bus, scrape } = setup()
  const tunnels = async (kind: string): Promise<number | undefined> => sample(await scrape(), 'guarded_active_tunnels', { kind })
  t.equal(await tunnels('connect'), 0)
  const decided = {
    a: decision('a'),
    b: decision('b'),
    u: decision('u', { 'record.kind': 'upgrade', 'http.request.method': 'GET' }),
    denied: decision('denied', { 'guarded.verdict': 'deny', 'guarded.reason': 'blocked' }),
    plain: decision('plain', { 'record.kind': 'http', 'http.request.method': 'GET' }),
  }
  for (const event of Object.values(decided)) bus.emit(event)
  t.equal(await tunnels('connect'), 2, 'a denied CONNECT is not a tunnel')
  t.equal(await tunnels('upgrade'), 1)
  t.equal(await tunnels('http'), undefined, 'a plain request is never a tunnel')
  bus.emit(close('a'), decided.a)
  bus.emit(close('denied', { 'guarded.outcome': 'refused' }), decided.denied)
  bus.emit(close('plain', { 'record.kind': 'http' }), decided.plain)
  t.equal(await tunnels('connect'), 1, 'only the allowed CONNECT\'s close counted down')
  bus.emit(close('never-decided'))
  t.equal(await tunnels('connect'), 1, 'a close without a decision (the record was never decided) opened no tunnel and closes none')
  bus.emit(close('b'), decided.b)
  bus.emit(close('u', { 'record.kind': 'upgrade' }), decided.u)
  t.equal(await tunnels('connect'), 0)
  t.equal(await tunnels('upgrade'), 0)
})

t.test('never exports session or prompt IDs, hosts, rules, addresses or approvers', async (t) => {
  const { bus, scrape, metrics } = setup({ processMetrics: true })
  const approved = { ...decision('a', { 'guarded.classification': 'unknown', 'guarded.reason': 'approved', 'guarded.prompt.text': 'deploy with token hunter2' }), 'guarded.approval.by': 'alice@approvers-secret.test', 'guarded.approval.latency_ms': 2500 } as DecisionEvent
  bus.emit(approved)
  bus.emit(close('a'))
  bus.emit(decision('b', { 'guarded.verdict': 'deny', 'guarded.reason': 'blocked', 'trace.parent': '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }))
  const body = (await metrics.render()).body
  t.ok((await scrape()).length > 50, 'the exposition is not empty')
  for (const secret of ['sess-secret-7f3a', 'prompt-secret-91c2', 'example-secret', '203.0.113.9', 'hunter2', 'approvers-secret', '4bf92f3577b34da6']) {
    t.notOk(body.includes(secret), `no ${secret} in the exposition`)
  }
})

t.test('approvals: the pending gauge is set from outside, latency comes from decision events', async (t) => {
  const { bus, scrape, metrics } = setup()
  metrics.approvalsPending(3)
  t.equal(sample(await scrape(), 'guarded_approvals_pending'), 3)
  metrics.approvalsPending(0)
  bus.emit({ ...decision('a', { 'guarded.reason': 'approved' }), 'guarded.approval.latency_ms': 2500, 'guarded.approval.scope': 'once' } as DecisionEvent)
  bus.emit({ ...decision('b', { 'guarded.verdict': 'deny', 'guarded.reason': 'unknown' }), 'guarded.approval.latency_ms': 40_000 } as DecisionEvent)
  bus.emit(decision('c'))
  const s = await scrape()
  t.equal(sample(s, 'guarded_approvals_pending'), 0)
  t.equal(sample(s, 'guarded_approval_latency_seconds_count', { verdict: 'allow' }), 1, 'a decision without an approval is not observed')
  t.equal(sample(s, 'guarded_approval_latency_seconds_sum', { verdict: 'allow' }), 2.5)
  t.equal(sample(s, 'guarded_approval_latency_seconds_bucket', { verdict: 'allow', le: '1' }), 0)
  t.equal(sample(s, 'guarded_approval_latency_seconds_bucket', { verdict: 'allow', le: '5' }), 1)
  t.equal(sample(s, 'guarded_approval_latency_seconds_sum', { verdict: 'deny' }), 40)
})

t.test('policy reloads by result, and audit drops read at scrape time without double counting', async (t) => {
  const { scrape, metrics } = setup()
  let s = await scrape()
  t.equal(sample(s, 'guarded_policy_reloads_total', { result: 'ok' }), 0)
  t.equal(sample(s, 'guarded_policy_reloads_total', { result: 'error' }), 0)
  t.equal(sample(s, 'guarded_audit_records_dropped_total'), 0, 'exported as 0 before any audit log is attached')
  metrics.policyReload(true)
  metrics.policyReload(true)
  metrics.policyReload(false)
  let dropped = 7
  metrics.auditDrops(() => dropped)
  s = await scrape()
  t.equal(sample(s, 'guarded_policy_reloads_total', { result: 'ok' }), 2)
  t.equal(sample(s, 'guarded_policy_reloads_total', { result: 'error' }), 1)
  t.equal(sample(s, 'guarded_audit_records_dropped_total'), 7)
  t.equal(sample(await scrape(), 'guarded_audit_records_dropped_total'), 7, 'a second scrape adds nothing')
  dropped = 12
  t.equal(sample(await scrape(), 'guarded_audit_records_dropped_total'), 12)
})

t.test('span drops are read at scrape time the same way, apart from the audit log\'s', async (t) => {
  const { scrape, metrics } = setup()
  t.equal(sample(await scrape(), 'guarded_spans_dropped_total'), 0, 'exported as 0 before any span sink is attached')
  let dropped = 3
  metrics.spanDrops(() => dropped)
  metrics.auditDrops(() => 100)
  t.equal(sample(await scrape(), 'guarded_spans_dropped_total'), 3)
  t.equal(sample(await scrape(), 'guarded_spans_dropped_total'), 3, 'a second scrape adds nothing')
  dropped = 5
  const s = await scrape()
  t.equal(sample(s, 'guarded_spans_dropped_total'), 5)
  t.equal(sample(s, 'guarded_audit_records_dropped_total'), 100, 'each counter reads its own source')
})

t.test('two registries in one process stay apart, each with unprefixed process metrics', async (t) => {
  const one = setup({})
  const two = setup({})
  one.bus.emit(decision('a'))
  const [a, b] = await Promise.all([one.scrape(), two.scrape()])
  t.equal(sample(a, 'guarded_decisions_total', { classification: 'allowed', verdict: 'allow', kind: 'connect' }), 1)
  t.equal(sample(b, 'guarded_decisions_total', { classification: 'allowed', verdict: 'allow', kind: 'connect' }), undefined)
  t.ok(series(a, 'process_cpu_user_seconds_total').length === 1, 'default process metrics are on')
  t.ok(series(a, 'nodejs_heap_size_used_bytes').length === 1)
  t.notOk(a.some((x) => x.name.startsWith('guarded_process') || x.name.startsWith('guarded_nodejs')))
  const quiet = await setup().scrape()
  t.equal(series(quiet, 'process_cpu_user_seconds_total').length, 0, 'processMetrics: false leaves them out')
})

t.test('render fits the admin server and names the exposition format', async (t) => {
  const { metrics } = setup()
  const state: Pick<AdminState, 'metrics'> = { metrics: metrics.render }
  const out = await state.metrics!()
  t.match(out.contentType, /^text\/plain; version=0\.0\.4/)
  t.match(out.body, /^# HELP guarded_/m)
})
