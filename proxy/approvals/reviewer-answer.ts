/** What an auto-reviewer answers, how a command's stdout is checked, and how policy turns it into a `Review`. */
import type { Risk } from '../../policy/approval-config.js'
import type { Review } from './create-registry.js'

/** A reviewer's answer: its recommendation, the risk it saw, and why (shown to humans on escalation). */
export interface ReviewerAnswer {
  readonly decision: 'allow' | 'deny' | 'escalate'
  readonly risk: Risk
  readonly rationale: string
}

const DECISIONS: readonly ReviewerAnswer['decision'][] = ['allow', 'deny', 'escalate']
const RISKS: readonly Risk[] = ['low', 'medium', 'high', 'critical']
/** Approvers read the rationale on a page; a reviewer that writes an essay is cut, not trusted to be brief. */
const MAX_RATIONALE = 2_000

/** Parses a reviewer's stdout; throws an Error naming what is wrong (the registry then fails closed). */
export function parseReviewerAnswer(stdout: string): ReviewerAnswer {
  let value: unknown
  try {
    value = JSON.parse(stdout)
  } catch {
    throw new Error(`its answer is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('its answer is not a JSON object')
  const { decision, risk, rationale } = value as Record<string, unknown>
  if (!DECISIONS.includes(decision as ReviewerAnswer['decision'])) throw new Error(`"decision" must be one of ${DECISIONS.join(', ')}, got ${JSON.stringify(decision)}`)
  if (!RISKS.includes(risk as Risk)) throw new Error(`"risk" must be one of ${RISKS.join(', ')}, got ${JSON.stringify(risk)}`)
  if (typeof rationale !== 'string') throw new Error('"rationale" must be a string')
  return { decision: decision as ReviewerAnswer['decision'], risk: risk as Risk, rationale: rationale.slice(0, MAX_RATIONALE) }
}

/**
 * Policy has the last word: critical is denied whatever the reviewer recommends, a deny stands,
 * an allow stands only at a risk the policy lets the reviewer approve; everything else goes to humans.
 */
export function toReview(answer: ReviewerAnswer, approveRisks: readonly Risk[]): Review {
  const { risk, rationale } = answer
  if (risk === 'critical' || answer.decision === 'deny') return { kind: 'decide', decision: 'deny', risk, rationale }
  if (answer.decision === 'allow' && approveRisks.includes(risk)) return { kind: 'decide', decision: 'allow', risk, rationale }
  return { kind: 'escalate', risk, rationale }
}
