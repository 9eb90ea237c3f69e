/**
 * One audit log line per record, written field by field in the order record.ts sets them. The generic
 * `JSON.stringify({ schema, ...event })` copied every record and walked it key by key, most of the
 * audit log's cost under load (issue 4); this writes the same JSON for a fraction. Values from our
 * closed sets (kinds, verdicts, reasons, outcomes) need no escaping and get none.
 * test/proxy/sinks/audit-lines.test.ts holds a record with every key, so a key added to the events
 * fails there until it is written here.
 */
import type { CloseEvent, DecisionEvent, ProxyEvent } from '../events.js'
import { jsonNumber as num, jsonString as str } from './json-text.js'
import { flattened, SharedFragments } from './shared-fragments.js'

/** A writer of JSON Lines text, one record at a time; `redact` leaves the prompt text out. */
export function auditLines(redact: boolean): (event: ProxyEvent) => string {
  const shared = new SharedFragments((e) => flattened(sharedFields(e, redact)))
  return (event) => (event.type === 'decision' ? decisionLine(event, shared) : closeLine(event))
}

function decisionLine(e: DecisionEvent, shared: SharedFragments): string {
  let line = '{"schema":"guarded.audit/v1","type":"decision","time":' + str(e.time) + ',"record.id":' + str(e['record.id']) + shared.of(e)
  line = optStr(line, ',"url.path":', e['url.path'])
  line = optNum(line, ',"guarded.approval.latency_ms":', e['guarded.approval.latency_ms'])
  return optStr(line, ',"trace.parent":', e['trace.parent']) + '}\n'
}

/** From record.kind to the approval's scope: the same for a session's requests to one destination. */
function sharedFields(e: DecisionEvent, redact: boolean): string {
  let line = ',"record.kind":"' + e['record.kind'] + '","session.id":' + str(e['session.id']) + ',"client.address":' + str(e['client.address'])
  line += ',"guarded.verdict":"' + e['guarded.verdict'] + '","guarded.reason":"' + e['guarded.reason'] + '"'
  line = optStr(line, ',"guarded.prompt.id":', e['guarded.prompt.id'])
  line = optWord(line, ',"guarded.prompt.source":', e['guarded.prompt.source'])
  if (!redact) line = optStr(line, ',"guarded.prompt.text":', e['guarded.prompt.text'])
  line = optStr(line, ',"server.address":', e['server.address'])
  line = optNum(line, ',"server.port":', e['server.port'])
  line = optStr(line, ',"network.peer.address":', e['network.peer.address'])
  line = optStr(line, ',"http.request.method":', e['http.request.method'])
  line = optWord(line, ',"guarded.classification":', e['guarded.classification'])
  line = optWord(line, ',"guarded.would_verdict":', e['guarded.would_verdict'])
  line = optStr(line, ',"guarded.rule":', e['guarded.rule'])
  line = optStr(line, ',"guarded.approval.by":', e['guarded.approval.by'])
  return optStr(line, ',"guarded.approval.scope":', e['guarded.approval.scope'])
}

function closeLine(e: CloseEvent): string {
  let line = '{"schema":"guarded.audit/v1","type":"close","time":' + str(e.time) + ',"record.id":' + str(e['record.id']) + ',"record.kind":"' + e['record.kind'] + '","session.id":' + str(e['session.id'])
  line += ',"guarded.outcome":"' + e['guarded.outcome'] + '","guarded.bytes.sent":' + num(e['guarded.bytes.sent']) + ',"guarded.bytes.received":' + num(e['guarded.bytes.received'])
  line += ',"guarded.duration_ms":' + num(e['guarded.duration_ms'])
  return optStr(line, ',"error.type":', e['error.type']) + '}\n'
}

// Each helper appends to the line it is given: V8 flattens such a chain in one cheap pass.
function optStr(line: string, key: string, value: string | undefined): string {
  return value === undefined ? line : line + key + str(value)
}

/** A value from one of our closed sets (a string union): never anything to escape. */
function optWord(line: string, key: string, value: string | undefined): string {
  return value === undefined ? line : line + key + '"' + value + '"'
}

function optNum(line: string, key: string, value: number | undefined): string {
  return value === undefined ? line : line + key + num(value)
}
