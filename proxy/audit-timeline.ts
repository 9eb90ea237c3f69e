/** Pure: turns audit records into a per-session, per-prompt timeline a security engineer can read. */

/** One audit line as parsed JSON (the keys are those of proxy/events.ts). */
export type AuditRecord = Record<string, unknown> & { type?: unknown; time?: unknown }

/** Filters for `guarded-proxy audit`. */
export interface TimelineFilter {
  readonly session?: string
  /** Only records at or after this time (ms since the epoch). */
  readonly since?: number
  readonly deniedOnly?: boolean
}

/** A decision with what its close record said about how it ended. */
export interface TimelineEntry {
  readonly time: string
  readonly session: string
  readonly prompt?: string
  readonly promptSource?: string
  readonly promptText?: string
  readonly verdict: string
  readonly reason: string
  readonly destination: string
  readonly method?: string
  readonly rule?: string
  readonly approvedBy?: string
  readonly outcome?: string
  readonly bytesSent?: number
  readonly bytesReceived?: number
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined)

/** Joins decisions with their closes (by `record.id`) and applies the filter, in log order. */
export function buildTimeline(records: Iterable<AuditRecord>, filter: TimelineFilter = {}): TimelineEntry[] {
  const entries = new Map<string, TimelineEntry>()
  for (const r of records) {
    const id = str(r['record.id'])
    if (!id) continue
    if (r.type === 'decision') {
      const entry = toEntry(r)
      if (entry && keep(entry, filter)) entries.set(id, entry)
    } else if (r.type === 'close' && entries.has(id)) {
      const entry = entries.get(id)!
      entries.set(id, { ...entry, ...closeFields(r) })
    }
  }
  return [...entries.values()]
}

function toEntry(r: AuditRecord): TimelineEntry | undefined {
  const time = str(r.time)
  const session = str(r['session.id'])
  if (!time || !session) return undefined
  const host = str(r['server.address'])
  const port = num(r['server.port'])
  const optional = {
    prompt: str(r['guarded.prompt.id']),
    promptSource: str(r['guarded.prompt.source']),
    promptText: str(r['guarded.prompt.text']),
    method: str(r['http.request.method']),
    rule: str(r['guarded.rule']),
    approvedBy: str(r['guarded.approval.by']),
  }
  return {
    time,
    session,
    verdict: str(r['guarded.verdict']) ?? '?',
    reason: str(r['guarded.reason']) ?? '?',
    destination: host ? `${host}:${port ?? ''}` : '(no destination)',
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
  }
}

function closeFields(r: AuditRecord): Partial<TimelineEntry> {
  const fields = { outcome: str(r['guarded.outcome']), bytesSent: num(r['guarded.bytes.sent']), bytesReceived: num(r['guarded.bytes.received']) }
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined))
}

function keep(entry: TimelineEntry, filter: TimelineFilter): boolean {
  if (filter.session !== undefined && entry.session !== filter.session) return false
  if (filter.since !== undefined && Date.parse(entry.time) < filter.since) return false
  return !(filter.deniedOnly && entry.verdict !== 'deny')
}

/** Renders the timeline as text: sessions, then prompts in order of first appearance, then decisions. */
export function renderTimeline(entries: readonly TimelineEntry[]): string {
  const sessions = new Map<string, Map<string, TimelineEntry[]>>()
  for (const e of entries) {
    const prompts = sessions.get(e.session) ?? new Map<string, TimelineEntry[]>()
    sessions.set(e.session, prompts)
    const key = e.prompt ?? ''
    prompts.set(key, [...(prompts.get(key) ?? []), e])
  }
  const lines: string[] = []
  for (const [session, prompts] of sessions) {
    lines.push(`session ${session}`)
    for (const [prompt, list] of prompts) {
      const first = list[0]
      const text = first?.promptText ? ` ${JSON.stringify(first.promptText.slice(0, 120))}` : ''
      lines.push(prompt ? `  prompt ${prompt} (from ${first?.promptSource ?? '?'})${text}` : '  (no prompt)')
      for (const e of list) lines.push(`    ${line(e)}`)
    }
  }
  return lines.length ? lines.join('\n') + '\n' : 'no matching records\n'
}

function line(e: TimelineEntry): string {
  const why = e.approvedBy ? `approved by ${e.approvedBy}` : e.rule ? `rule ${e.rule}` : ''
  const method = e.method && e.method !== 'CONNECT' ? `${e.method} ` : ''
  return [e.time, e.verdict.padEnd(5), `${method}${e.destination}`, e.reason, why].filter(Boolean).join('  ')
}
