// The optional last line of a run: how the proxy decided this session's
// connections. Counted from the proxy's decision events, never from its logs.
import type { ProxyEvent } from '../proxy/events.js'

/** Decisions for one session; `parked` counts those that waited for an approval (whatever the outcome). */
export interface DecisionCounts {
  allowed: number
  denied: number
  parked: number
}

/** A sink for the proxy's event bus that counts `sessionId`'s decisions into `counts`. */
export function countDecisions(sessionId: string, counts: DecisionCounts): (event: ProxyEvent) => void {
  return (event) => {
    if (event.type !== 'decision' || event['session.id'] !== sessionId) return
    if (event['guarded.verdict'] === 'allow') counts.allowed++
    else counts.denied++
    if (event['guarded.approval.latency_ms'] !== undefined) counts.parked++
  }
}

/** The one summary line, newline included. */
export function formatSummary(counts: Readonly<DecisionCounts>): string {
  return `guarded-run: ${counts.allowed} allowed, ${counts.denied} denied, ${counts.parked} parked\n`
}
