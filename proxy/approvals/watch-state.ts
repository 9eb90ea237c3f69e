/** What `approvals watch` shows, and how stream events and keystrokes change it. Pure: no terminal, no network. */
import type { Verdict } from '../../policy/types.js'
import type { ApprovalList, StreamEvent } from './admin-client.js'
import { newestFirst, target } from './format-approvals.js'
import type { ApprovalView, Scope, SettledApproval } from './types.js'

/** The view's state; `selected` is an id, so the selection stays on its approval as others come and go. */
export interface WatchState {
  readonly pending: readonly ApprovalView[]
  readonly selected?: string
  /** One line per recent decision, newest first. */
  readonly recent: readonly string[]
  /** Ids already settled, so a list fetched just before a settlement cannot bring one back. */
  readonly settled: readonly string[]
  readonly status: string
}

/** What a keystroke asks for. */
export type KeyAction = { readonly kind: 'move'; readonly by: number } | { readonly kind: 'decide'; readonly decision: Verdict; readonly scope: Scope } | { readonly kind: 'quit' }

const RECENT_LINES = 5
const SETTLED_KEPT = 200

/** The state before the stream's snapshot arrives. */
export const INITIAL: WatchState = { pending: [], recent: [], settled: [], status: 'connecting…' }

/** Keys as bytes arrive from a raw-mode terminal; several may come in one chunk (pasting, key repeat). */
const KEYS: readonly [string, KeyAction][] = [
  ['\x1b[A', { kind: 'move', by: -1 }],
  ['\x1bOA', { kind: 'move', by: -1 }],
  ['\x1b[B', { kind: 'move', by: 1 }],
  ['\x1bOB', { kind: 'move', by: 1 }],
  ['k', { kind: 'move', by: -1 }],
  ['j', { kind: 'move', by: 1 }],
  ['a', { kind: 'decide', decision: 'allow', scope: 'once' }],
  ['s', { kind: 'decide', decision: 'allow', scope: 'session' }],
  ['A', { kind: 'decide', decision: 'allow', scope: 'always' }],
  ['d', { kind: 'decide', decision: 'deny', scope: 'once' }],
  ['D', { kind: 'decide', decision: 'deny', scope: 'always' }],
  ['q', { kind: 'quit' }],
  ['\x03', { kind: 'quit' }], // Ctrl-C: raw mode turns off the terminal's own SIGINT
]

/** The actions in one chunk of input; unknown bytes (other keys, stray escapes) are skipped. */
export function readKeys(chunk: string): KeyAction[] {
  const actions: KeyAction[] = []
  for (let i = 0; i < chunk.length; ) {
    const match = KEYS.find(([bytes]) => chunk.startsWith(bytes, i))
    if (match) actions.push(match[1])
    i += match ? match[0].length : chunk[i] === '\x1b' ? escapeLength(chunk, i) : 1
  }
  return actions
}

/** Applies one event of the stream. */
export function applyEvent(state: WatchState, event: StreamEvent): WatchState {
  if (event.type === 'snapshot') return { ...applyList(state, event.data), status: 'connected' }
  if (event.type === 'offered') return withPending(state, [event.data, ...state.pending.filter((a) => a.id !== event.data.id)])
  const settled = [event.data.id, ...state.settled].slice(0, SETTLED_KEPT)
  const next = withPending({ ...state, settled }, state.pending.filter((a) => a.id !== event.data.id))
  return { ...next, recent: [describeSettled(event.data), ...state.recent].slice(0, RECENT_LINES) }
}

/** Replaces the pending list with a fresh fetch (waiting counts change without events). */
export function applyList(state: WatchState, list: ApprovalList): WatchState {
  return withPending(state, list.pending.filter((a) => !state.settled.includes(a.id)))
}

/** Moves the selection by `by` rows, stopping at either end. */
export function moveSelection(state: WatchState, by: number): WatchState {
  const index = state.pending.findIndex((a) => a.id === state.selected)
  const next = state.pending[Math.max(0, Math.min(state.pending.length - 1, index + by))]
  return next ? { ...state, selected: next.id } : state
}

/** The approval a decision key applies to. */
export function selectedApproval(state: WatchState): ApprovalView | undefined {
  return state.pending.find((a) => a.id === state.selected)
}

/** A decided approval as the recent list shows it. */
export function describeSettled(a: SettledApproval): string {
  const verb = a.decision === 'allow' ? 'allowed' : 'denied'
  return `${verb} ${target(a)} (${a.scope}) by ${a.by}, session ${a.session_id}`
}

/** Keeps the selection on its approval; when that one is gone, the nearest row takes it (the newest at first). */
function withPending(state: WatchState, pending: readonly ApprovalView[]): WatchState {
  const sorted = newestFirst(pending)
  const before = state.pending.findIndex((a) => a.id === state.selected)
  const kept = sorted.some((a) => a.id === state.selected)
  const selected = kept ? state.selected : sorted[Math.min(Math.max(before, 0), sorted.length - 1)]?.id
  const { selected: _old, ...rest } = state
  return { ...rest, pending: sorted, ...(selected !== undefined && { selected }) }
}

/** Length of an escape sequence we do not handle (so `ESC [ C` is not read as three keys). */
function escapeLength(chunk: string, i: number): number {
  const csi = /^\x1b[[O][0-?]*[ -/]*[@-~]/.exec(chunk.slice(i))
  return csi ? csi[0].length : 1
}
