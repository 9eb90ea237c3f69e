import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** The proxy under test gets core 0 to itself; load generator, origin and this script share core 1. */
export const CORES = { proxy: 0, load: 1 } as const

/** Starts `command` pinned to one core with `taskset` (which execs, so the PID is the command's). */
export function spawnPinned(core: number, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn('taskset', ['-c', String(core), command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...(env && { env }) })
}

/** Resolves with the first stdout line matching `pattern`; rejects on exit or after `timeoutMs`. */
export async function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const [match] = await waitForLines(child, [pattern], timeoutMs)
  return match!
}

/**
 * Resolves with the first stdout line matching each pattern, once all have matched; rejects on exit or
 * after `timeoutMs`. One reader for all patterns: a second reader would miss lines the first had buffered.
 */
export function waitForLines(child: ChildProcess, patterns: readonly RegExp[], timeoutMs: number): Promise<RegExpMatchArray[]> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    const matches: (RegExpMatchArray | undefined)[] = patterns.map(() => undefined)
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000) })
    const missing = (): string => patterns.filter((_, i) => !matches[i]).join(', ')
    const fail = (why: string): void => { cleanup(); reject(new Error(`${why}${stderr ? `\n${stderr}` : ''}`)) }
    const timer = setTimeout(() => fail(`no line matching ${missing()} within ${timeoutMs} ms`), timeoutMs)
    const onExit = (code: number | null): void => fail(`process exited (${code}) before printing ${missing()}`)
    const cleanup = (): void => { clearTimeout(timer); child.off('exit', onExit); lines.removeAllListeners('line') }
    child.once('exit', onExit)
    lines.on('line', line => {
      patterns.forEach((pattern, i) => { matches[i] ??= line.match(pattern) ?? undefined })
      if (matches.every(m => m)) { cleanup(); resolve(matches as RegExpMatchArray[]) }
    })
  })
}

/** Ends a child we started: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}
