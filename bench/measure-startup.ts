/**
 * Issue 5: what guarded-run adds to starting a command, and to a build-like burst of small writes in the
 * workspace. Runs alternate between the commands compared, so a neighbour's burst lands on all of them.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { percentile } from './percentile.js'
import { CORES } from './spawn-pinned.js'
import type { Spread, StartupFigures } from './types.js'

/** Runs of each start-up command, runs of each workload, and the files one workload writes. */
export const STARTUP = { runs: 10, workloadRuns: 3, files: 2000 } as const

/** Where `npm run build` puts the bundled launcher (what `guarded-run` runs), relative to dist/bench/. */
const LAUNCHER_CLI = fileURLToPath(new URL('../run/guarded-run.js', import.meta.url))

/** The sandbox hides /tmp, so the workspace must live elsewhere. */
const WORKSPACE_PARENT = '/var/tmp'

/** Backstop on one run: every command here ends by itself in about a second. */
const RUN_LIMIT_MS = 30_000

/** The `guarded-run timings: …` line GUARDED_RUN_TIMINGS=1 writes to stderr, if there is one. */
export function timingsLine(stderr: string): string | undefined {
  return /^guarded-run timings: .*$/m.exec(stderr)?.[0]
}

/**
 * Each phase's median over several timings lines, in the order guarded-run reports them, so the
 * breakdown is not one run's noise. Phases missing from some lines are taken over those that have them.
 */
export function medianBreakdown(lines: readonly string[]): string | undefined {
  const phases = new Map<string, number[]>()
  for (const line of lines) {
    for (const [, name, ms] of line.matchAll(/([\w-]+) (\d+)ms/g)) phases.set(name!, [...(phases.get(name!) ?? []), Number(ms)])
  }
  if (phases.size === 0) return undefined
  const parts = [...phases].map(([name, ms]) => `${name} ${Math.round(percentile(ms, 0.5))}ms`)
  return `guarded-run timings, median of ${lines.length} runs: ${parts.join(', ')}`
}

/** Median and 90th percentile of `samples`. */
export function spread(samples: readonly number[]): Spread {
  return { median: percentile(samples, 0.5), p90: percentile(samples, 0.9) }
}

interface Run { readonly ms: number; readonly code: number | null; readonly stderr: string }

/**
 * Wall time from spawn to exit. Both cores are allowed, as on a developer's otherwise idle machine:
 * guarded-run's proxy and its sandboxed child run side by side, and this script's own pin would serialise them.
 */
function timed(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn('taskset', ['-c', `${CORES.proxy},${CORES.load}`, ...argv], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'], timeout: RUN_LIMIT_MS, killSignal: 'SIGKILL' })
    let ms = NaN
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.once('exit', () => { ms = performance.now() - started })
    child.once('error', reject)
    child.once('close', code => resolve({ ms, code, stderr }))
  })
}

/** The section's fixed inputs: where commands run, with which environment, and the argv of each. */
interface Setup { readonly workspace: string; readonly env: NodeJS.ProcessEnv; guarded(argv: readonly string[]): string[] }

/** Alternates the three start-up commands `STARTUP.runs` times; guarded-run reports its phases each time. */
async function startups(s: Setup): Promise<Pick<StartupFigures, 'true' | 'node' | 'guarded' | 'breakdown'>> {
  const argvs = [['true'], [process.execPath, '-e', '0'], s.guarded(['true'])]
  const env = { ...s.env, GUARDED_RUN_TIMINGS: '1' } // only guarded-run reads it
  const samples: number[][] = argvs.map(() => [])
  const lines: string[] = []
  for (let i = 0; i < STARTUP.runs; i++) {
    for (const [j, argv] of argvs.entries()) {
      const run = await timed(argv, s.workspace, env)
      samples[j]!.push(run.ms)
      const line = timingsLine(run.stderr)
      if (line !== undefined) lines.push(line)
    }
  }
  const breakdown = medianBreakdown(lines)
  return { true: spread(samples[0]!), node: spread(samples[1]!), guarded: spread(samples[2]!), ...(breakdown && { breakdown }) }
}

/** The build-like workload, directly and under guarded-run, in an emptied workspace each time. */
async function workload(s: Setup): Promise<StartupFigures['workload']> {
  const script = `for i in $(seq ${STARTUP.files}); do echo $i > f$i.txt; done`
  const argvs = [['sh', '-c', script], s.guarded(['sh', '-c', script])]
  const samples: number[][] = argvs.map(() => [])
  for (let i = 0; i < STARTUP.workloadRuns; i++) {
    for (const [j, argv] of argvs.entries()) {
      await rm(s.workspace, { recursive: true, force: true })
      await mkdir(s.workspace)
      const run = await timed(argv, s.workspace, s.env)
      if (run.code !== 0) throw new Error(`the workload failed (exit ${run.code}): ${run.stderr.trim().split('\n')[0]}`)
      samples[j]!.push(run.ms)
    }
  }
  return { files: STARTUP.files, directMs: percentile(samples[0]!, 0.5), guardedMs: percentile(samples[1]!, 0.5) }
}

/**
 * Start-up of `true`, `node -e 0` and `guarded-run -- true`, guarded-run's own breakdown, and the workload.
 * Throws, with guarded-run's first line of complaint, when it cannot run here (no usable bwrap).
 */
export async function measureStartup(dir: string): Promise<StartupFigures> {
  const policy = join(dir, 'startup-policy.yaml')
  await writeFile(policy, 'version: 1\ndefault: deny\n')
  // Its own runtime dir keeps guarded-run's run logs and token inside the bench's temp dir.
  const env = { ...process.env, XDG_RUNTIME_DIR: await mkdtemp(join(dir, 'run-')) }
  const workspace = await mkdtemp(join(WORKSPACE_PARENT, 'guarded-bench-ws-'))
  const setup: Setup = { workspace, env, guarded: argv => [process.execPath, LAUNCHER_CLI, '--policy', policy, '--', ...argv] }
  try {
    // The first run warms the page cache and is not a sample.
    const first = await timed(setup.guarded(['true']), workspace, env)
    if (first.code !== 0) throw new Error(`guarded-run cannot run here (exit ${first.code}): ${first.stderr.trim().split('\n')[0]}`)
    return { runs: STARTUP.runs, ...(await startups(setup)), workload: await workload(setup) }
  } finally {
    await rm(workspace, { recursive: true, force: true })
  }
}
