/** One phase's figures over several rounds, taken the same way wherever the bench repeats a phase. */
import type { PhaseResult } from './types.js'

/** The median of each figure over the rounds (the middle one for an odd count); errors are summed. */
export function medianPhase(rounds: readonly PhaseResult[]): PhaseResult {
  const median = (pick: (p: PhaseResult) => number | undefined): number => {
    const values = rounds.map(pick).filter((v): v is number => v !== undefined).sort((a, b) => a - b)
    const mid = values.length >> 1
    return values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2
  }
  const first = rounds.find(p => p.errors > 0)
  const cpu = rounds.some(p => p.proxyCpu !== undefined) ? { proxyCpu: median(p => p.proxyCpu) } : {}
  return { value: median(p => p.value), errors: rounds.reduce((sum, p) => sum + p.errors, 0), firstError: first?.firstError ?? '',
    coreBusy: median(p => p.coreBusy), reconnects: rounds.reduce((sum, p) => sum + (p.reconnects ?? 0), 0), ...cpu }
}
