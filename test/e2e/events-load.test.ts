/** 10,000 requests through a `serve` process with an audit log, rotated by rename + SIGHUP halfway: exactly one decision and one close each, none lost, none torn, in bounded time. */
import { rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { ProxyAgent, request } from 'undici'
import { EVENTS_POLICY, readAuditLines } from '../helpers/events-stack.js'
import { startHttpOrigin } from '../helpers/origins.js'
import { startServe } from '../helpers/run-cli.js'
import { tempDir } from '../helpers/temp-dir.js'

const REQUESTS = 10_000
const CONCURRENCY = 32
const BUDGET_MS = 90_000

t.test(`${REQUESTS} keep-alive requests at concurrency ${CONCURRENCY} produce exactly ${REQUESTS} decisions and closes`, { timeout: BUDGET_MS + 30_000 }, async (t) => {
  const origin = await startHttpOrigin(t)
  const dir = await tempDir(t, 'guarded-load-')
  await writeFile(join(dir, 'policy.yaml'), EVENTS_POLICY)
  const audit = join(dir, 'audit.jsonl')
  const serve = await startServe(t, ['--policy', join(dir, 'policy.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1', '--audit-log', audit, '--no-watch'], { PATH: process.env.PATH ?? '', XDG_RUNTIME_DIR: dir, HOME: dir })
  const agent = new ProxyAgent({ uri: serve.proxyUrl, proxyTunnel: false, connections: CONCURRENCY, pipelining: 1 })
  t.teardown(() => agent.destroy())

  const started = Date.now()
  const statuses = new Map<number, number>()
  let next = 0
  let rotated: Promise<void> | undefined
  const worker = async (): Promise<void> => {
    while (next < REQUESTS) {
      const i = next++
      if (i === REQUESTS / 2) rotated = rename(audit, `${audit}.1`).then(() => void serve.child.kill('SIGHUP')) // logrotate mid-run
      const res = await request(origin.url(`/load/${i}`, 'origin.test'), { dispatcher: agent })
      await res.body.dump()
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const elapsed = Date.now() - started
  t.same([...statuses], [[200, REQUESTS]], 'every request was answered 200')
  t.ok(elapsed < BUDGET_MS, `${REQUESTS} requests in ${elapsed} ms (${Math.round((REQUESTS / elapsed) * 1000)}/s)`)
  t.equal(origin.seen.length, REQUESTS)

  serve.child.kill('SIGTERM') // drains, then flushes the audit log
  t.match(await serve.exited, { code: 0 })
  await rotated
  const before = await readAuditLines(`${audit}.1`) // throws on any line that is not whole JSON
  const after = await readAuditLines(audit)
  t.ok(before.length > 0 && after.length > 0, `the SIGHUP mid-run split the log (${before.length} + ${after.length} lines)`)
  const lines = [...before, ...after]
  const decisions = lines.filter((l) => l.type === 'decision')
  const closes = lines.filter((l) => l.type === 'close')
  t.equal(lines.length, 2 * REQUESTS, 'nothing else in the file')
  t.equal(decisions.length, REQUESTS, 'exactly one decision per request')
  t.equal(closes.length, REQUESTS, 'exactly one close per request')
  t.ok(lines.every((l) => l.schema === 'guarded.audit/v1'), 'every line has the schema')
  const decisionIds = new Set(decisions.map((d) => d['record.id']))
  t.equal(decisionIds.size, REQUESTS, 'decision ids are unique')
  t.equal(new Set(closes.map((c) => c['record.id'])).size, REQUESTS, 'close ids are unique')
  t.ok(closes.every((c) => decisionIds.has(c['record.id'])), 'every close has its decision')
  const position = new Map(lines.map((l, i) => [`${l.type}:${l['record.id']}`, i]))
  t.ok(decisions.every((d) => (position.get(`decision:${d['record.id']}`) ?? 0) < (position.get(`close:${d['record.id']}`) ?? -1)), 'each decision precedes its close')
  t.equal(new Set(decisions.map((d) => d['url.path'])).size, REQUESTS, 'every request path appears once: none lost, none doubled')
  t.ok(decisions.every((d) => d['guarded.verdict'] === 'allow' && d['session.id'] === 'default'))
  t.ok(closes.every((c) => c['guarded.outcome'] === 'completed'), 'every close says completed')
})
