/** Pending approvals as text: short id prefixes, ages, and the `approvals list` table. Pure, so it is table-tested. */
import { decisionPattern } from './decisions-file.js'
import { safeText, truncate } from './safe-text.js'
import type { ApprovalView } from './types.js'

const MIN_PREFIX = 8

/** The shortest prefix (at least 8 characters) of each id that no other id in the list shares. */
export function shortIds(ids: readonly string[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const id of ids) {
    let length = Math.min(MIN_PREFIX, id.length)
    while (length < id.length && ids.some((other) => other !== id && other.startsWith(id.slice(0, length)))) length++
    out.set(id, id.slice(0, length))
  }
  return out
}

/** `45s`, `3m05s`, `1h02m`: short enough for a column, exact enough to act on. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** `host:port` as the decisions file writes it, safe to print. */
export function target(a: ApprovalView): string {
  return safeText(decisionPattern(a.host, a.port))
}

/** The prompt an approval was asked under, as untrusted one-line text, or `-`. */
export function promptOf(a: ApprovalView, width: number): string {
  const text = a.prompt_text ?? a.prompt_id
  return text === undefined ? '-' : truncate(safeText(text), width)
}

/** One row of cells per approval: id prefix, session, prompt, host:port, waiting, expires in. */
export function approvalRows(pending: readonly ApprovalView[], now: number): string[][] {
  const ids = shortIds(pending.map((a) => a.id))
  return pending.map((a) => [
    ids.get(a.id) ?? a.id,
    truncate(safeText(a.session_id), 20),
    promptOf(a, 40),
    target(a),
    `${a.waiting} for ${formatDuration(now - Date.parse(a.first_seen))}`,
    formatDuration(Date.parse(a.expires_at) - now),
  ])
}

const HEADER = ['ID', 'SESSION', 'PROMPT', 'HOST:PORT', 'WAITING', 'EXPIRES IN']

/** The `approvals list` table, newest first, or a sentence when nothing waits. */
export function formatTable(pending: readonly ApprovalView[], now: number): string {
  if (pending.length === 0) return 'no pending approvals\n'
  const rows = [HEADER, ...approvalRows(newestFirst(pending), now)]
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => [...(r[i] ?? '')].length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n'
}

/** Newest first: what was just parked is what the approver is most likely looking for. */
export function newestFirst(pending: readonly ApprovalView[]): ApprovalView[] {
  return [...pending].sort((a, b) => b.first_seen.localeCompare(a.first_seen))
}
