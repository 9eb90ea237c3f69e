/** The pure parts of `approvals` as tables: untrusted text, id prefixes, keys, and how the watch view follows the stream. */
import t from 'tap'
import { formatDuration, formatTable, shortIds } from '../../../proxy/approvals/format-approvals.js'
import { safeText, truncate } from '../../../proxy/approvals/safe-text.js'
import type { ApprovalView, SettledApproval } from '../../../proxy/approvals/types.js'
import { renderWatch } from '../../../proxy/approvals/watch-render.js'
import { applyEvent, applyList, INITIAL, moveSelection, readKeys } from '../../../proxy/approvals/watch-state.js'

t.test('safeText removes escape sequences and shows other controls as U+FFFD', async (t) => {
  const rows: [input: string, expected: string, why: string][] = [
    ['plain text', 'plain text', 'printable text is untouched'],
    ['a\x1b[31mred\x1b[0m', 'ared', 'CSI colour sequences'],
    ['\x1b[2J\x1b[Hclear', 'clear', 'screen clear and cursor home, which could hide the real host'],
    ['t\x1b]0;title\x07x', 'tx', 'OSC window title ended by BEL, payload and all'],
    ['t\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\', 'tlink', 'OSC 8 hyperlinks ended by ST'],
    ['\x1bPq#0;2;0;0;0\x1b\\dcs', 'dcs', 'DCS strings (sixel)'],
    ['\x9b31mC1', 'C1', 'the 8-bit CSI'],
    ['\x1b7saved\x1b8', 'saved', 'two-byte sequences'],
    ['unterminated \x1b]0;forever', 'unterminated ', 'an OSC with no end is dropped to the end'],
    ['line\nbreak\r\ttab\x00nul\x7f', 'line\ufffdbreak\ufffd\ufffdtab\ufffdnul\ufffd', 'newlines and other C0 controls stay visible, on one line'],
    ['abc\u202edcba\u2066x\u2069', 'abc\ufffddcba\ufffdx\ufffd', 'bidi overrides and isolates (Trojan Source)'],
    ['ends with ESC \x1b', 'ends with ESC ', 'a lone ESC'],
  ]
  for (const [input, expected, why] of rows) t.equal(safeText(input), expected, why)
  t.equal(truncate('abcdef', 4), 'abc…')
  t.equal(truncate('abc', 4), 'abc')
})

t.test('shortIds gives each id its shortest unique prefix of at least 8 characters', async (t) => {
  const ids = ['aaaaaaaa-1111', 'aaaaaaaa-1122', 'bbbbbbbb-0000']
  t.same([...shortIds(ids).values()], ['aaaaaaaa-111', 'aaaaaaaa-112', 'bbbbbbbb'])
  t.same([...shortIds(['abc']).values()], ['abc'], 'an id shorter than 8 is itself')
})

t.test('formatDuration', async (t) => {
  const rows: [number, string][] = [[0, '0s'], [-5_000, '0s'], [45_400, '45s'], [185_000, '3m05s'], [3_720_000, '1h02m']]
  for (const [ms, text] of rows) t.equal(formatDuration(ms), text, `${ms} ms`)
})

t.test('readKeys turns raw terminal input into actions, skipping what it does not know', async (t) => {
  t.same(readKeys('\x1b[A\x1b[Bjk'), [
    { kind: 'move', by: -1 },
    { kind: 'move', by: 1 },
    { kind: 'move', by: 1 },
    { kind: 'move', by: -1 },
  ])
  t.same(readKeys('asAdD').map((a) => (a.kind === 'decide' ? `${a.decision}/${a.scope}` : a.kind)), ['allow/once', 'allow/session', 'allow/always', 'deny/once', 'deny/always'])
  t.same(readKeys('\x1b[Cx\x1bOAq'), [{ kind: 'move', by: -1 }, { kind: 'quit' }], 'right arrow and x are ignored; ESC O A is up')
  t.same(readKeys('\x03'), [{ kind: 'quit' }], 'Ctrl-C quits (raw mode delivers it as a byte)')
})

const approval = (id: string, second: number, extra: Partial<ApprovalView> = {}): ApprovalView => ({
  id,
  session_id: 'default',
  host: `${id}.test`,
  port: 443,
  first_seen: `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`,
  waiting: 1,
  expires_at: `2026-01-01T00:01:${String(second).padStart(2, '0')}.000Z`,
  ...extra,
})
const settled = (a: ApprovalView): SettledApproval => ({ ...a, decision: 'allow', scope: 'once', by: 'cli', decided_at: a.first_seen })

t.test('the watch view lists newest first, keeps the selection on its approval, and never brings a settled one back', async (t) => {
  const a = approval('aaaaaaaa', 1)
  const b = approval('bbbbbbbb', 2)
  const c = approval('cccccccc', 3)
  let state = applyEvent(INITIAL, { type: 'snapshot', data: { pending: [a, b], recent: [] } })
  t.same(state.pending.map((p) => p.id), ['bbbbbbbb', 'aaaaaaaa'], 'newest first')
  t.equal(state.selected, 'bbbbbbbb', 'the newest is selected at first')
  state = moveSelection(state, 1)
  t.equal(state.selected, 'aaaaaaaa')
  state = moveSelection(state, 5)
  t.equal(state.selected, 'aaaaaaaa', 'stops at the end')
  state = applyEvent(state, { type: 'offered', data: c })
  t.same(state.pending.map((p) => p.id), ['cccccccc', 'bbbbbbbb', 'aaaaaaaa'])
  t.equal(state.selected, 'aaaaaaaa', 'a new arrival does not steal the selection')
  state = applyEvent(state, { type: 'settled', data: settled(a) })
  t.equal(state.selected, 'bbbbbbbb', 'when the selected one is settled, the nearest row takes the selection')
  t.match(state.recent, ['allowed aaaaaaaa.test:443 (once) by cli, session default'])
  state = applyList(state, { pending: [a, b, c], recent: [] })
  t.same(state.pending.map((p) => p.id), ['cccccccc', 'bbbbbbbb'], 'a list fetched before the settlement cannot resurrect it')
  state = applyList(state, { pending: [{ ...b, waiting: 7 }, c], recent: [] })
  t.equal(state.pending.find((p) => p.id === 'bbbbbbbb')?.waiting, 7, 'refreshes update waiting counts')
})

t.test('the screen highlights the selection and shows prompt text only through safeText', async (t) => {
  const a = approval('aaaaaaaa', 1, { prompt_text: 'hi\x1b]0;x\x07\x1b[31m!' })
  const state = applyEvent(INITIAL, { type: 'snapshot', data: { pending: [a], recent: [] } })
  const screen = renderWatch(state, 'pid 1 (serve)', { columns: 120, rows: 20 }, Date.parse('2026-01-01T00:00:11Z'))
  t.match(screen, '\x1b[7m> aaaaaaaa  aaaaaaaa.test:443')
  t.match(screen, '1 for 10s')
  t.match(screen, '50s')
  t.match(screen, 'prompt (untrusted): hi!')
  t.notMatch(screen, '\x1b]0;')
  t.notMatch(screen, '\x1b[31m')
  const narrow = renderWatch(state, 'pid 1 (serve)', { columns: 30, rows: 20 }, 0)
  t.ok(narrow.split('\r\n').every((line) => line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').length <= 30), 'no line is wider than the terminal')
  t.equal(formatTable([], 0), 'no pending approvals\n')
})
