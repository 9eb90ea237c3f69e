/** Draws the `approvals watch` screen as one string of ANSI text: plain escapes, no TUI library. */
import { approvalRows } from './format-approvals.js'
import { safeText, truncate } from './safe-text.js'
import type { WatchState } from './watch-state.js'

/** Escape sequences the watch view writes (and the only ones: everything shown from the proxy goes through safeText). */
export const ANSI = {
  enter: '\x1b[?1049h\x1b[?25l', // alternate screen, hidden cursor
  leave: '\x1b[?25h\x1b[?1049l',
  home: '\x1b[H\x1b[2J',
  reverse: '\x1b[7m',
  bold: '\x1b[1m',
  dim: '\x1b[2m',
  reset: '\x1b[0m',
} as const

const KEYS_HELP = '↑/↓ j/k select   a allow once   s allow session   A always allow   d deny   D always deny   q quit'

/** The whole screen for `state`, `columns` wide and at most `rows` high. */
export function renderWatch(state: WatchState, header: string, size: { columns: number; rows: number }, now: number): string {
  const fit = (text: string): string => truncate(text, size.columns)
  const lines = [ANSI.bold + fit(`guarded-proxy approvals watch: ${header}   ${state.status}`) + ANSI.reset, ANSI.dim + fit(KEYS_HELP) + ANSI.reset, '']
  const body = state.pending.length === 0 ? ['  no pending approvals; requests appear here as they are parked'] : pendingLines(state, now, fit)
  const recent = state.recent.length === 0 ? [] : ['', ANSI.dim + 'recent decisions' + ANSI.reset, ...state.recent.map((r) => fit(`  ${r}`))]
  const room = Math.max(1, size.rows - lines.length - recent.length - 1)
  return ANSI.home + [...lines, ...body.slice(0, room), ...recent].join('\r\n') + '\r\n'
}

/** Two lines per approval: the row, then its prompt as untrusted text; the selected one is highlighted. */
function pendingLines(state: WatchState, now: number, fit: (text: string) => string): string[] {
  const rows = approvalRows(state.pending, now)
  const lines = [ANSI.dim + fit(`  ${'ID'.padEnd(8)}  ${'HOST:PORT'.padEnd(30)}  ${'SESSION'.padEnd(20)}  WAITING        EXPIRES IN`) + ANSI.reset]
  state.pending.forEach((a, i) => {
    const [id = '', session = '', , host = '', waiting = '', expires = ''] = rows[i] ?? []
    const row = fit(`${a.id === state.selected ? '>' : ' '} ${id.padEnd(8)}  ${host.padEnd(30)}  ${session.padEnd(20)}  ${waiting.padEnd(13)}  ${expires}`)
    lines.push(a.id === state.selected ? ANSI.reverse + row + ANSI.reset : row)
    const prompt = a.prompt_text ?? a.prompt_id
    if (prompt !== undefined) lines.push(fit(`    prompt (untrusted): ${safeText(prompt)}`))
    if (a.review) lines.push(fit(`    reviewer: ${a.review.risk}, ${safeText(a.review.rationale)}`))
  })
  return lines
}
