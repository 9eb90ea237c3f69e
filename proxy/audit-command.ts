/** `guarded-proxy audit FILE`: a readable timeline of what each session tried to reach, for which prompt, and why. */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { parseDuration } from '../policy/parse-duration.js'
import { buildTimeline, renderTimeline, type AuditRecord } from './audit-timeline.js'

const USAGE = `usage: guarded-proxy audit FILE [--session ID] [--since TIME|DURATION] [--denied] [--json]

  --since    an ISO time (2026-11-21T10:00:00Z) or a duration back from now (30m, 8h)
  --denied   only refusals
  --json     one JSON object per decision, joined with how it ended
`

/** Reads the audit log line by line (it may be large) and prints the timeline. */
export async function auditCommand(args: readonly string[], now: () => number = Date.now): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], allowPositionals: true, options: { session: { type: 'string' }, since: { type: 'string' }, denied: { type: 'boolean' }, json: { type: 'boolean' } } })
  } catch (err) {
    process.stderr.write(`guarded-proxy audit: ${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  const since = values.since === undefined ? undefined : parseSince(values.since, now())
  if (positionals.length !== 1 || Number.isNaN(since)) {
    process.stderr.write(positionals.length !== 1 ? USAGE : `guarded-proxy audit: --since ${values.since}: write an ISO time or a duration like 30m\n`)
    return 2
  }
  const { records, malformed } = await readRecords(positionals[0]!)
  const entries = buildTimeline(records, { ...(values.session && { session: values.session }), ...(since !== undefined && { since }), deniedOnly: values.denied ?? false })
  process.stdout.write(values.json ? entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length ? '\n' : '') : renderTimeline(entries))
  if (malformed > 0) process.stderr.write(`guarded-proxy audit: skipped ${malformed} line(s) that were not audit records\n`)
  return 0
}

function parseSince(text: string, now: number): number {
  const ago = parseDuration(text)
  return ago !== undefined ? now - ago : Date.parse(text)
}

async function readRecords(file: string): Promise<{ records: AuditRecord[]; malformed: number }> {
  const records: AuditRecord[] = []
  let malformed = 0
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity })
  for await (const line of lines) {
    if (line.trim() === '') continue
    try {
      const value = JSON.parse(line) as unknown
      if (typeof value === 'object' && value !== null && (value as AuditRecord).schema === 'guarded.audit/v1') records.push(value as AuditRecord)
      else malformed++
    } catch {
      malformed++
    }
  }
  return { records, malformed }
}
