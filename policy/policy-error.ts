/** The one error `loadPolicy` throws: every problem in every file, each with a place and a fix. */

/** One thing wrong with a policy file. `line` and `col` are 1-based. */
export interface PolicyProblem {
  readonly file: string
  readonly line: number
  readonly col: number
  readonly message: string
  readonly fix: string
}

/** Thrown by `loadPolicy` when any source has any problem; a half-read policy is never returned. */
export class PolicyError extends Error {
  readonly code = 'GUARDED_BAD_POLICY'
  readonly problems: readonly PolicyProblem[]

  constructor(problems: readonly PolicyProblem[]) {
    const lines = problems.map((p) => `  ${p.file}:${p.line}:${p.col}: ${p.message} (fix: ${p.fix})`)
    super(`invalid policy (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`)
    this.name = 'PolicyError'
    this.problems = Object.freeze([...problems])
  }
}
