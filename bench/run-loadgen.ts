import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { CORES } from './spawn-pinned.js'
import type { Tools } from './types.js'

const run = promisify(execFile)

/** One loadgen JSON line (see loadgen.c print_result); fields absent for modes that lack them. */
export interface LoadgenResult {
  readonly mode: 'tunnel' | 'connect' | 'http' | 'idle'
  readonly errors: number
  readonly first_error: string
  readonly mb_per_s?: number
  readonly per_s?: number
  readonly p50_us?: number
  readonly p99_us?: number
  readonly open?: number
  readonly reconnects?: number
}

/** What to run: `proxyPort` 0 means straight to the origin. */
export interface LoadgenArgs {
  readonly mode: 'tunnel' | 'connect' | 'http'
  readonly originPort: number
  readonly proxyPort: number
  readonly name: string
  readonly seconds: number
  readonly warmup: number
  readonly conns: number
}

/** Turns the typed arguments into loadgen's flags. */
export function loadgenFlags(a: LoadgenArgs | (Omit<LoadgenArgs, 'mode'> & { mode: 'idle' })): string[] {
  return ['-m', a.mode, '-t', String(a.originPort), '-p', String(a.proxyPort), '-n', a.name,
    '-s', String(a.seconds), '-w', String(a.warmup), '-c', String(a.conns)]
}

/** Runs one bounded load phase on the load core and parses its result line. */
export async function runLoadgen(tools: Tools, args: LoadgenArgs): Promise<LoadgenResult> {
  const limitMs = (args.seconds + args.warmup + 10) * 1000 // loadgen stops itself; this is a backstop
  const { stdout } = await run('taskset', ['-c', String(CORES.load), tools.loadgen, ...loadgenFlags(args)],
    { timeout: limitMs, killSignal: 'SIGKILL' })
  return JSON.parse(stdout.trim()) as LoadgenResult
}
