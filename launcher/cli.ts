#!/usr/bin/env node
/** `guarded-run`: the command-line entry point. The proxy and sandbox modules load lazily, after the flags are known. */
import { createTimings } from './run-timings.js'
import { parseCli, RUN_USAGE, UsageError, type CliRequest, type RunFlags } from './run-flags.js'

// Same value as run-command's REFUSED_EXIT, without loading that module for a crash report.
const REFUSED_EXIT_FALLBACK = 125
const timings = createTimings(process.env.GUARDED_RUN_TIMINGS === '1')
timings.mark('node')

/** Runs the request; resolves with an exit status, or never returns when the agent died of a signal. */
async function main(argv: readonly string[]): Promise<number> {
  let request: CliRequest
  try {
    request = parseCli(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`guarded-run: ${err.message}\n\n${RUN_USAGE}`)
    return 2
  }
  if (request.kind === 'help') return void process.stdout.write(RUN_USAGE), 0
  if (request.kind === 'doctor') return doctor()
  if (request.kind === 'trust') return trust(request.dir ?? process.cwd())
  return run(request.flags)
}

async function doctor(): Promise<number> {
  const { blockers, evaluateChecks, formatChecks, gatherFacts } = await import('./doctor.js')
  const checks = evaluateChecks(await gatherFacts())
  process.stdout.write(formatChecks(checks))
  const failing = blockers(checks).length
  process.stdout.write(failing === 0 ? 'guarded-run can enforce the sandbox on this machine.\n' : `guarded-run cannot run sandboxed here: fix the ${failing} FAIL item${failing === 1 ? '' : 's'} above.\n`)
  return failing === 0 ? 0 : 1
}

/** `guarded-run trust [DIR]`: lets a project's `.guarded/policy.yaml` load, until it changes. */
async function trust(dir: string): Promise<number> {
  const { trustCommand } = await import('./trust-command.js')
  return trustCommand(dir, process.env)
}

async function run(flags: RunFlags): Promise<number> {
  const [{ runCommand, REFUSED_EXIT }, { exitLikeAgent }, { formatSummary }] = await Promise.all([
    import('./run-command.js'), import('./run-sandboxed.js'), import('./run-summary.js'),
  ])
  timings.mark('modules')
  let outcome
  try {
    outcome = await runCommand(flags, { env: process.env, cwd: process.cwd(), interactive: process.stdin.isTTY === true, timings })
  } catch (err) {
    process.stderr.write(`guarded-run: ${(err as Error).message}\n`)
    return REFUSED_EXIT
  }
  if (flags.summary && outcome.counts !== null) process.stderr.write(formatSummary(outcome.counts))
  process.stderr.write(timings.report())
  return exitLikeAgent(outcome.result)
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err: Error) => {
    process.stderr.write(`guarded-run: ${err.message}\n`)
    process.exitCode = REFUSED_EXIT_FALLBACK
  },
)
