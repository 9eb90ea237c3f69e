/**
 * `policy test`: an expectations file lists destinations and the classification the policy must
 * give each, so a policy repository's CI catches a change that moves one.
 *
 *   version: 1
 *   expect:
 *     github.com: allowed
 *     "pastebin.com:443": blocked
 */
import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml'
import { decide } from './decide.js'
import { describeRule } from './explain-decision.js'
import { parseDestination } from './parse-destination.js'
import type { PolicyProblem } from './policy-error.js'
import type { Classification, Destination, Policy, SourceRef } from './types.js'

/** One expectation as written. */
export interface Expectation {
  readonly at: SourceRef
  readonly text: string
  readonly destination: Destination
  readonly expected: Classification
}

const CLASSIFICATIONS: readonly Classification[] = ['allowed', 'blocked', 'unknown']

/** Reads an expectations file; problems (bad destination, unknown classification) are collected with places. */
export function readExpectations(file: string, text: string): { expectations: Expectation[]; problems: PolicyProblem[] } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines })
  const problems: PolicyProblem[] = []
  const place = (node: Node | null | undefined): SourceRef => ({ file, ...lines.linePos(node?.range?.[0] ?? 0) })
  const expect = isMap(doc.contents) ? doc.contents.get('expect', true) : undefined
  if (doc.errors.length > 0 || !isMap(expect)) return { expectations: [], problems: [{ ...place(doc.contents), message: 'an expectations file needs an "expect:" mapping of destination: classification', fix: 'write "expect:" then lines like "  github.com: allowed"' }] }
  const expectations: Expectation[] = []
  for (const pair of expect.items) {
    const key = pair.key as Node
    const value = pair.value as Node | null
    const dest = parseDestination(isScalar(key) ? String(key.value) : '')
    const expected = isScalar(value) ? String(value.value) : ''
    if (!dest.ok) problems.push({ ...place(key), message: dest.message, fix: 'write HOST or HOST:PORT' })
    else if (!CLASSIFICATIONS.includes(expected as Classification)) problems.push({ ...place(value ?? key), message: `'${expected}' is not a classification`, fix: `write one of: ${CLASSIFICATIONS.join(', ')}` })
    else expectations.push({ at: place(key), text: String((key as { value?: unknown }).value), destination: dest.value, expected: expected as Classification })
  }
  return { expectations, problems }
}

/** One line per mismatch: place, destination, what was expected, what the policy gives and why. */
export function checkExpectations(policy: Policy, expectations: readonly Expectation[]): string[] {
  const mismatches: string[] = []
  for (const e of expectations) {
    const decision = decide(policy, e.destination)
    if (decision.classification === e.expected) continue
    const why = decision.rule ? describeRule(decision.rule) : `no rule; default ${policy.default}`
    mismatches.push(`${e.at.file}:${e.at.line}:${e.at.col}: ${e.text}: expected ${e.expected}, got ${decision.classification} (${why})`)
  }
  return mismatches
}
