/** The audit line writer against JSON.stringify: the same JSON for every key and every awkward string. */
import t from 'tap'
import type { ProxyEvent } from '../../../proxy/events.js'
import { auditLines } from '../../../proxy/sinks/audit-lines.js'
import { jsonNumber, jsonString } from '../../../proxy/sinks/json-text.js'
import { close, decision, everyCloseKey, everyDecisionKey, oneKeyChanged } from './events.js'

const EVERY_DECISION_KEY = everyDecisionKey()
const EVERY_CLOSE_KEY = everyCloseKey()

const parsed = (line: string): unknown => JSON.parse(line)
/** One record's line from a writer of its own, so nothing is reused from another record. */
const auditLine = (event: ProxyEvent, redact: boolean): string => auditLines(redact)(event)
const asStringified = (event: ProxyEvent): unknown => JSON.parse(JSON.stringify({ schema: 'guarded.audit/v1', ...event }))

t.test('writes every key of a decision and a close, as JSON.stringify of the record would', async (t) => {
  for (const event of [EVERY_DECISION_KEY, EVERY_CLOSE_KEY, decision('few', { 'guarded.prompt.id': undefined }), close('plain')]) {
    const line = auditLine(event, false)
    t.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), `${event.type} ${event['record.id']}: one line`)
    const expected = JSON.parse(JSON.stringify({ schema: 'guarded.audit/v1', ...event })) as unknown
    t.same(parsed(line), expected, `${event.type} ${event['record.id']}: the same fields and values`)
  }
})

t.test('keeps the order record.ts sets, schema first', async (t) => {
  const line = auditLine(decision('order', { 'url.path': '/' }), false)
  t.same(Object.keys(parsed(line) as object).slice(0, 8), ['schema', 'type', 'time', 'record.id', 'record.kind', 'session.id', 'client.address', 'guarded.verdict'])
})

t.test('redaction leaves the prompt text out and keeps everything else', async (t) => {
  const line = parsed(auditLine(EVERY_DECISION_KEY, true)) as Record<string, unknown>
  t.notOk('guarded.prompt.text' in line)
  t.equal(line['guarded.prompt.id'], 'prompt-secret-91c2')
  t.equal(Object.keys(line).length, Object.keys(EVERY_DECISION_KEY).length, 'schema in, text out')
})

t.test('strings come out exactly as JSON.stringify writes them', async (t) => {
  const cases: [string, string][] = [
    ['plain', 'api.github.com'],
    ['empty', ''],
    ['a quote', 'say "hi"'],
    ['a backslash', 'C:\\tmp'],
    ['newline and tab', 'one\ntwo\tthree'],
    ['control characters', '\u0000\u0001\u001f'],
    ['DEL and C1 controls (JSON leaves them)', '\u007f\u0085'],
    ['non-ASCII', 'é€😀'],
    ['line and paragraph separators', '\u2028\u2029'],
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', '\udc00'],
    ['a reversed pair', '\udc00\ud800'],
  ]
  for (const [why, value] of cases) t.equal(jsonString(value), JSON.stringify(value), why)
  const line = parsed(auditLine(decision('s', { 'guarded.rule': 'say "hi"\n', 'session.id': 'é\ud800' }), false)) as Record<string, unknown>
  t.equal(line['guarded.rule'], 'say "hi"\n', 'through a whole line too')
  t.equal(line['session.id'], 'é\ud800')
})

t.test('numbers come out as JSON.stringify writes them, null for what JSON cannot hold', async (t) => {
  for (const value of [0, -0, 1, 0.001, 1.5e-7, 443, 1e21, -2.5, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity]) {
    t.equal(jsonNumber(value), JSON.stringify(value), String(value))
  }
  t.same(parsed(auditLine(close('n', { 'guarded.duration_ms': NaN }), false)), { ...JSON.parse(JSON.stringify({ schema: 'guarded.audit/v1', ...close('n') })), 'guarded.duration_ms': null })
})

t.test('a record that differs from the one before in any key is written with its own values', async (t) => {
  const write = auditLines(false)
  for (const [why, changed] of oneKeyChanged(EVERY_DECISION_KEY)) {
    t.same(parsed(write(EVERY_DECISION_KEY)), asStringified(EVERY_DECISION_KEY), `before: ${why}`)
    t.same(parsed(write(changed)), asStringified(changed), why)
  }
})

t.test('records to many destinations, each after a record to another, the prompt changing now and then', async (t) => {
  const write = auditLines(false)
  // 40 destinations in turn (each remembered), then 100 (more than the table keeps).
  const host = (i: number): string => `host-${i % (i < 300 ? 40 : 100)}.test`
  const records = Array.from({ length: 600 }, (_, i) => decision(`r${i}`, { 'server.address': host(i), 'guarded.prompt.id': `p${Math.floor(i / 150)}` }))
  for (const record of records) t.same(parsed(write(record)), asStringified(record), record['record.id'])
})
