/**
 * One audit log line per record, written field by field in the order record.ts sets them. The generic
 * `JSON.stringify({ schema, ...event })` copied every record and walked it key by key, most of the
 * audit log's cost under load (issue 4); this writes the same JSON for a fraction. Values from our
 * closed sets (kinds, verdicts, reasons, outcomes) need no escaping and get none.
 * test/proxy/sinks/audit-line.test.ts holds a record with every key, so a key added to the events
 * fails there until it is written here.
 */
import type { CloseEvent, DecisionEvent, ProxyEvent } from '../events.js'
import { jsonNumber as num, jsonString as str } from './json-text.js'

/** The JSON Lines text of `event`, newline included; `redact` leaves the prompt text out. */
export function auditLine(event: ProxyEvent, redact: boolean): string {
  return event.type === 'decision' ? decisionLine(event, redact) : closeLine(event)
}

function decisionLine(e: DecisionEvent, redact: boolean): string {
  let line = `{"schema":"guarded.audit/v1","type":"decision","time":${str(e.time)},"record.id":${str(e['record.id'])},"record.kind":"${e['record.kind']}"`
  line += `,"session.id":${str(e['session.id'])},"client.address":${str(e['client.address'])},"guarded.verdict":"${e['guarded.verdict']}","guarded.reason":"${e['guarded.reason']}"`
  line += optStr(',"guarded.prompt.id":', e['guarded.prompt.id']) + optWord(',"guarded.prompt.source":', e['guarded.prompt.source'])
  if (!redact) line += optStr(',"guarded.prompt.text":', e['guarded.prompt.text'])
  line += optStr(',"server.address":', e['server.address']) + optNum(',"server.port":', e['server.port']) + optStr(',"network.peer.address":', e['network.peer.address'])
  line += optStr(',"http.request.method":', e['http.request.method']) + optStr(',"url.path":', e['url.path']) + optWord(',"guarded.classification":', e['guarded.classification'])
  line += optWord(',"guarded.would_verdict":', e['guarded.would_verdict']) + optStr(',"guarded.rule":', e['guarded.rule'])
  line += optStr(',"guarded.approval.by":', e['guarded.approval.by']) + optStr(',"guarded.approval.scope":', e['guarded.approval.scope'])
  return `${line}${optNum(',"guarded.approval.latency_ms":', e['guarded.approval.latency_ms'])}${optStr(',"trace.parent":', e['trace.parent'])}}\n`
}

function closeLine(e: CloseEvent): string {
  const line = `{"schema":"guarded.audit/v1","type":"close","time":${str(e.time)},"record.id":${str(e['record.id'])},"record.kind":"${e['record.kind']}","session.id":${str(e['session.id'])}`
  return `${line},"guarded.outcome":"${e['guarded.outcome']}","guarded.bytes.sent":${num(e['guarded.bytes.sent'])},"guarded.bytes.received":${num(e['guarded.bytes.received'])},"guarded.duration_ms":${num(e['guarded.duration_ms'])}${optStr(',"error.type":', e['error.type'])}}\n`
}

function optStr(key: string, value: string | undefined): string {
  return value === undefined ? '' : key + str(value)
}

/** A value from one of our closed sets (a string union): never anything to escape. */
function optWord(key: string, value: string | undefined): string {
  return value === undefined ? '' : `${key}"${value}"`
}

function optNum(key: string, value: number | undefined): string {
  return value === undefined ? '' : key + num(value)
}
