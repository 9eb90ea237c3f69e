/** The audit log as a security engineer reads it and an operator runs it: exact keys, one decision and one close per connection, rotation, SIGHUP, back-pressure, drops, and a failing disk. */
import { readdir, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import { ProxyAgent, request } from 'undici'
import type { ProxyEvent } from '../../../proxy/events.js'
import { openAuditLog, type AuditLogOptions } from '../../../proxy/sinks/audit-log.js'
import { curl, openTunnel } from '../../helpers/clients.js'
import { EVENTS_POLICY, readAuditLines, startEventsStack, waitForAudit } from '../../helpers/events-stack.js'
import { makeFifo } from '../../helpers/fifo.js'
import { startHttpOrigin, startEchoOrigin } from '../../helpers/origins.js'
import { startServe } from '../../helpers/run-cli.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { close, decision } from './events.js'
import { parseProm, sample } from './prom-text.js'

const DECISION_KEYS = ['session.id', 'guarded.prompt.id', 'guarded.prompt.source', 'server.address', 'server.port', 'network.peer.address', 'http.request.method', 'guarded.classification', 'guarded.verdict', 'guarded.reason', 'guarded.rule', 'client.address']

async function code(proxyUrl: string, url: string, extra: string[] = []): Promise<string> {
  return (await curl(['-x', proxyUrl, '-o', '/dev/null', '-w', '%{http_code}', ...extra, url])).stdout.toString()
}

const options = (path: string, more: Partial<AuditLogOptions> = {}): AuditLogOptions => ({ path, maxBytes: 0, keep: 0, bufferRecords: 10_000, onFull: 'block', redactPromptText: false, ...more })

/** Every record id has exactly one decision and one close. */
function pairs(t: Test, lines: Record<string, unknown>[]): void {
  const seen = new Map<string, string[]>()
  for (const l of lines) seen.set(String(l['record.id']), [...(seen.get(String(l['record.id'])) ?? []), String(l.type)])
  for (const [id, types] of seen) t.same(types, ['decision', 'close'], `record ${id}: one decision, then one close`)
}

t.test('every line parses, carries the schema and the exact attribute keys, one decision and one close per connection', async (t) => {
  const origin = await startHttpOrigin(t)
  const echo = await startEchoOrigin(t)
  const stack = await startEventsStack(t, { audit: {}, policy: EVENTS_POLICY.replace('allow:\n', `allow:\n  - "echo.test:${echo.port}"\n`) })
  stack.proxy.policy() // loaded
  await stack.admin('PUT', '/v1/sessions/default/prompt', { id: 'p-keys', text: 'check the keys' })
  t.equal(await code(stack.proxyUrl, origin.url('/a', 'origin.test')), '200')
  t.equal(await code(stack.proxyUrl, 'http://x.blocked.test/'), '403')
  t.equal(await code(stack.proxyUrl, 'http://nowhere.test/'), '403')
  await t.rejects(openTunnel(t, stack.port, 'echo.test:1').then((tunnel) => (tunnel.response.status === 200 ? Promise.resolve() : Promise.reject(new Error(String(tunnel.response.status))))), 'a port the policy does not allow')
  const lines = await waitForAudit(stack.auditFile, (l) => l.filter((r) => r.type === 'close').length === 4, 'four closes')
  t.equal(lines.length, 8)
  for (const line of lines) t.equal(line.schema, 'guarded.audit/v1')
  pairs(t, lines)
  const [allowed, blocked, unknown] = lines.filter((l) => l.type === 'decision')
  t.same(
    DECISION_KEYS.filter((k) => !(k in allowed!)),
    [],
    'an allowed request carries every key',
  )
  t.match(allowed, { 'session.id': 'default', 'guarded.prompt.id': 'p-keys', 'guarded.prompt.source': 'admin', 'server.address': 'origin.test', 'server.port': origin.port, 'network.peer.address': '127.0.0.1', 'http.request.method': 'GET', 'guarded.classification': 'allowed', 'guarded.verdict': 'allow', 'guarded.reason': 'allowed', 'guarded.rule': 'origin.test:*', 'client.address': '127.0.0.1' })
  t.match(blocked, { 'guarded.classification': 'blocked', 'guarded.verdict': 'deny', 'guarded.reason': 'blocked', 'guarded.rule': '*.blocked.test', 'server.port': 80 })
  t.notOk('network.peer.address' in blocked!, 'a refused destination was never resolved, so has no peer address')
  t.match(unknown, { 'guarded.classification': 'unknown', 'guarded.verdict': 'deny', 'guarded.reason': 'unknown' })
  const closes = lines.filter((l) => l.type === 'close')
  t.match(closes[0], { 'guarded.outcome': 'completed', 'guarded.bytes.received': Number, 'guarded.duration_ms': Number })
  t.same(closes.slice(1).map((c) => c['guarded.outcome']), ['refused', 'refused', 'refused'])
  t.equal((await stat(stack.auditFile)).mode & 0o777, 0o600, 'the log is 0600')
})

t.test('rotation: serve --audit-max-bytes rotates into .1, .2 and keeps only --audit-keep files', async (t) => {
  const origin = await startHttpOrigin(t)
  const dir = await tempDir(t, 'guarded-rotate-')
  await writeFile(join(dir, 'policy.yaml'), EVENTS_POLICY)
  const audit = join(dir, 'audit.jsonl')
  const serve = await startServe(t, ['--policy', join(dir, 'policy.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1', '--audit-log', audit, '--audit-max-bytes', '2000', '--audit-keep', '2'], { PATH: process.env.PATH ?? '', XDG_RUNTIME_DIR: dir, HOME: dir })
  for (let i = 0; i < 20; i++) t.equal(await code(serve.proxyUrl, origin.url(`/r${i}`, 'origin.test')), '200', `request ${i}`)
  serve.child.kill('SIGTERM')
  t.match(await serve.exited, { code: 0 })
  const files = (await readdir(dir)).filter((f) => f.startsWith('audit.jsonl')).sort()
  t.same(files, ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2'], 'the live file and two rotated ones, no .3')
  for (const f of ['audit.jsonl.1', 'audit.jsonl.2']) {
    const size = (await stat(join(dir, f))).size
    t.ok(size >= 2000 && size < 4000, `${f} rotated just past the limit (${size} bytes)`)
  }
  const newest = [...(await readAuditLines(join(dir, 'audit.jsonl.2'))), ...(await readAuditLines(join(dir, 'audit.jsonl.1'))), ...(await readAuditLines(audit))]
  const paths = newest.filter((l) => l.type === 'decision').map((l) => l['url.path'] ?? l['record.id'])
  t.ok(paths.length > 0 && paths.length < 20, `older records went with the removed file (${paths.length} kept)`)
  const all = newest.map((l) => l['record.id'])
  t.equal(new Set(all).size * 2, all.length, 'records are not split across files: every kept id has both of its lines')
})

t.test('SIGHUP after a logrotate-style rename: new lines go to the new file, none are lost', async (t) => {
  const origin = await startHttpOrigin(t)
  const dir = await tempDir(t, 'guarded-hup-')
  await writeFile(join(dir, 'policy.yaml'), EVENTS_POLICY)
  const audit = join(dir, 'audit.jsonl')
  const serve = await startServe(t, ['--policy', join(dir, 'policy.yaml'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--resolve', 'origin.test=127.0.0.1', '--audit-log', audit, '--no-watch'], { PATH: process.env.PATH ?? '', XDG_RUNTIME_DIR: dir, HOME: dir })
  for (let i = 0; i < 3; i++) await code(serve.proxyUrl, origin.url(`/old${i}`, 'origin.test'))
  await waitForAudit(audit, (l) => l.length === 6, 'the first three requests')
  await rename(audit, `${audit}.rotated`)
  serve.child.kill('SIGHUP')
  await waitForAudit(audit, () => true, 'the reopened file').catch(() => undefined)
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline && !(await stat(audit).catch(() => undefined))) await new Promise((r) => setTimeout(r, 20))
  t.ok(await stat(audit).catch(() => undefined), 'SIGHUP created a new file at the configured path')
  for (let i = 0; i < 3; i++) await code(serve.proxyUrl, origin.url(`/new${i}`, 'origin.test'))
  const fresh = await waitForAudit(audit, (l) => l.length === 6, 'the next three requests in the new file')
  t.same(fresh.filter((l) => l.type === 'decision').map((l) => l['url.path']), ['/new0', '/new1', '/new2'])
  t.same((await readAuditLines(`${audit}.rotated`)).filter((l) => l.type === 'decision').map((l) => l['url.path']), ['/old0', '/old1', '/old2'], 'the rotated file got nothing new')
  t.ok(serve.child.exitCode === null, 'the proxy is still running after SIGHUP')
  serve.child.kill('SIGTERM')
  t.match(await serve.exited, { code: 0 })
})

t.test('reopen under a steady stream of records: completes promptly and loses nothing', async (t) => {
  const dir = await tempDir(t, 'guarded-reopen-')
  const path = join(dir, 'audit.jsonl')
  const log = await openAuditLog(options(path))
  t.teardown(() => log.close())
  let n = 0
  let running = true
  const pump = (): void => {
    if (!running) return
    for (let i = 0; i < 20; i++) log.sink(decision(`r${n++}`, { 'server.address': 'x'.repeat(200) }))
    setImmediate(pump)
  }
  pump()
  const rotated: string[] = []
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 10))
    await rename(path, `${path}.${i}`)
    rotated.push(`${path}.${i}`)
    const reopened = await Promise.race([log.reopen().then(() => true), new Promise((r) => setTimeout(() => r(false), 2_000))])
    t.ok(reopened, `reopen ${i} completed within 2s while records kept coming`)
    if (!reopened) break
  }
  running = false
  await log.flush()
  const lines = (await Promise.all([...rotated, path].map((f) => readAuditLines(f)))).flat()
  t.equal(lines.length, n, `every one of the ${n} records is in some file`)
  t.equal(new Set(lines.map((l) => l['record.id'])).size, n, 'none twice')
})

t.test('a log that cannot be written fails closed: no crash, nothing silently lost, the gate shuts', async (t) => {
  const log = await openAuditLog(options('/dev/full', { bufferRecords: 100 }))
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => void unhandled.push(err)
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => process.off('unhandledRejection', onUnhandled))
  log.sink(decision('a'))
  log.sink(close('a'))
  await new Promise((r) => setTimeout(r, 200))
  t.same(unhandled, [], 'a write error is not an unhandled rejection (which kills a serve process)')
  const stats = log.stats()
  t.equal(stats.written, 0)
  t.equal(stats.buffered + stats.dropped, 2, 'the two records are kept (or at least counted), not vanished')
  t.ok(log.gate.full(), 'the gate is shut: new connections wait and are refused rather than go unrecorded')
  await log.close()
})

t.test('through the proxy: an unwritable audit log turns new connections away with audit-unavailable', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { audit: { path: '/dev/full' }, limits: { auditWaitMs: 200 } })
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => void unhandled.push(err)
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => process.off('unhandledRejection', onUnhandled))
  await code(stack.proxyUrl, origin.url('/first', 'origin.test'))
  await new Promise((r) => setTimeout(r, 100))
  const res = await curl(['-x', stack.proxyUrl, '-D', '-', '-o', '/dev/null', origin.url('/second', 'origin.test')])
  t.match(res.stdout.toString(), /^HTTP\/1\.1 503 /, 'refused')
  t.match(res.stdout.toString(), /x-guarded-decision: audit-unavailable/i)
  t.same(unhandled, [])
  t.same(origin.seen.map((s) => s.url), ['/first'], 'the refused request never left')
})

t.test('a refusal while the log is full keeps its close: every written decision has its close', async (t) => {
  const dir = await tempDir(t, 'guarded-full-')
  const path = join(dir, 'audit.jsonl')
  const log = await openAuditLog(options(path, { bufferRecords: 1 }))
  // The first record starts a write; the second fills the one-record buffer.
  log.sink(decision('first'))
  log.sink(decision('second'))
  t.ok(log.gate.full())
  // Refused before the gate (a 407): its decision is kept, and so must its close be.
  log.sink(decision('no-creds', { 'guarded.verdict': 'deny', 'guarded.reason': 'auth-required' }))
  log.sink(close('no-creds', { 'guarded.outcome': 'refused' }))
  // Refused by the gate itself: both are dropped, and counted.
  log.sink(decision('gated', { 'guarded.verdict': 'deny', 'guarded.reason': 'audit-unavailable' }))
  log.sink(close('gated', { 'guarded.outcome': 'refused' }))
  log.sink(close('first'))
  log.sink(close('second'))
  await log.close()
  const lines = await readAuditLines(path)
  t.same(lines.map((l) => `${l.type} ${l['record.id']}`), ['decision first', 'decision second', 'decision no-creds', 'close no-creds', 'close first', 'close second'])
  t.equal(log.stats().dropped, 2, 'the gate refusal: its decision and close')
})

t.test('back-pressure: with a slow reader and a one-record buffer, new connections get 503 audit-unavailable and nothing admitted goes unrecorded', async (t) => {
  const fifo = await makeFifo(t)
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { audit: { path: fifo.path, bufferRecords: 1 }, limits: { auditWaitMs: 300 } })
  // A 60 KB prompt text makes each decision line nearly fill the 64 KiB pipe.
  await stack.admin('PUT', '/v1/sessions/default/prompt', { id: 'big', text: 'x'.repeat(60_000) })
  const statuses: string[] = []
  for (let i = 0; i < 6; i++) {
    const res = await curl(['-x', stack.proxyUrl, '-D', '-', '-o', '/dev/null', origin.url(`/bp${i}`, 'origin.test')])
    statuses.push(/^HTTP\/1\.1 (\d+)/.exec(res.stdout.toString())?.[1] ?? '?')
    if (statuses.at(-1) === '503') t.match(res.stdout.toString(), /x-guarded-decision: audit-unavailable/i)
  }
  t.ok(statuses.includes('200'), `some were admitted (${statuses.join(' ')})`)
  t.ok(statuses.includes('503'), 'later ones were turned away once the log was behind')
  t.equal(origin.seen.length, statuses.filter((s) => s === '200').length, 'only admitted requests reached the origin')
  const metricsBefore = parseProm((await stack.admin('GET', '/metrics', undefined, null)).text)
  fifo.resume()
  const admitted = statuses.filter((s) => s === '200').length
  const deadline = Date.now() + 10_000
  let lines: Record<string, unknown>[] = []
  while (Date.now() < deadline) {
    lines = fifo.text().split('\n').slice(0, -1).map((l) => JSON.parse(l) as Record<string, unknown>) // whole lines only
    if (lines.filter((l) => l.type === 'close').length >= admitted) break
    await new Promise((r) => setTimeout(r, 20))
  }
  const allowed = lines.filter((l) => l.type === 'decision' && l['guarded.verdict'] === 'allow')
  t.same(allowed.map((l) => l['url.path']).sort(), origin.seen.map((s) => s.url).sort(), 'every admitted request has its decision in the log')
  pairs(t, lines)
  t.notOk(lines.some((l) => l['guarded.reason'] === 'audit-unavailable'), 'the refusals the gate caused are not written (they are counted)')
  const refused = statuses.filter((s) => s === '503').length
  t.equal(sample(metricsBefore, 'guarded_audit_records_dropped_total'), refused * 2, 'each gate refusal counted: decision and close')
  t.equal(sample(parseProm((await stack.admin('GET', '/metrics', undefined, null)).text), 'guarded_refusals_total', { reason: 'audit-unavailable' }), refused, 'and visible as refusals')
  // Room again: new connections are admitted.
  t.equal(await code(stack.proxyUrl, origin.url('/after', 'origin.test')), '200')
})

t.test('on_full: drop keeps admitting, and counts what it dropped in guarded_audit_records_dropped_total', async (t) => {
  const fifo = await makeFifo(t)
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { audit: { path: fifo.path, bufferRecords: 1 }, limits: { auditWaitMs: 300 }, policy: `${EVENTS_POLICY}audit:\n  on_full: drop\n` })
  await stack.admin('PUT', '/v1/sessions/default/prompt', { id: 'big', text: 'x'.repeat(60_000) })
  const agent = new ProxyAgent({ uri: stack.proxyUrl, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  for (let i = 0; i < 10; i++) {
    const res = await request(origin.url(`/d${i}`, 'origin.test'), { dispatcher: agent })
    await res.body.text()
    t.equal(res.statusCode, 200, `request ${i} admitted`)
  }
  await stack.waitForCloses(10)
  const dropped = sample(parseProm((await stack.admin('GET', '/metrics', undefined, null)).text), 'guarded_audit_records_dropped_total') ?? 0
  fifo.resume()
  const emitted = stack.events.length
  const deadline = Date.now() + 10_000
  let written = 0
  while (Date.now() < deadline) {
    written = fifo.text().split('\n').filter(Boolean).length
    if (written + dropped >= emitted) break
    await new Promise((r) => setTimeout(r, 20))
  }
  t.ok(dropped > 0, `some records were dropped (${dropped})`)
  t.equal(written + dropped, emitted, `written (${written}) + dropped (${dropped}) = emitted (${emitted})`)
})

t.test('a log that is not a regular file (a pipe, /dev/null) is never rotated away', async (t) => {
  // A FIFO stands in for /dev/null, so a failure here cannot take the machine's /dev/null with it.
  const fifo = await makeFifo(t)
  fifo.resume()
  const log = await openAuditLog(options(fifo.path, { maxBytes: 1_000, keep: 2 }))
  for (let i = 0; i < 50; i++) {
    log.sink(decision(`r${i}`))
    log.sink(close(`r${i}`))
    await log.flush() // one write each: every write after the first passes maxBytes
  }
  await log.close()
  t.ok((await stat(fifo.path)).isFIFO(), 'the pipe is still a pipe')
  t.same((await readdir(dirname(fifo.path))).sort(), ['audit.fifo'], 'and nothing was renamed beside it')
  const deadline = Date.now() + 5_000
  while (fifo.text().split('\n').length < 101 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.equal(fifo.text().split('\n').length - 1, 100, 'every line went down the pipe')
})

t.test('records are written in emission order, whole, even in large batches', async (t) => {
  const dir = await tempDir(t, 'guarded-order-')
  const path = join(dir, 'audit.jsonl')
  const log = await openAuditLog(options(path))
  const events: ProxyEvent[] = []
  for (let i = 0; i < 3_000; i++) events.push(i % 2 ? close(`id${i >> 1}`) : decision(`id${i >> 1}`, { 'guarded.prompt.text': 'é€😀\n"quoted"' }))
  for (const e of events) log.sink(e)
  await log.close()
  const lines = await readAuditLines(path)
  t.same(lines.map((l) => `${l.type}:${l['record.id']}`), events.map((e) => `${e.type}:${e['record.id']}`))
  t.equal(lines[0]?.['guarded.prompt.text'], 'é€😀\n"quoted"', 'text with newlines and quotes stays on one line')
  t.same(log.stats(), { written: 3_000, dropped: 0, buffered: 0 })
})

t.test('lines wait a moment to share a write, but a lone record is still written without a flush', async (t) => {
  const dir = await tempDir(t, 'guarded-lone-')
  const path = join(dir, 'audit.jsonl')
  const log = await openAuditLog(options(path))
  t.teardown(() => log.close())
  log.sink(decision('lone'))
  const lines = await waitForAudit(path, (l) => l.length === 1, 'the lone record')
  t.equal(lines[0]?.['record.id'], 'lone')
  t.same(log.stats(), { written: 1, dropped: 0, buffered: 0 })
})
