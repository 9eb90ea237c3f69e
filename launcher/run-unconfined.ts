// `--no-sandbox`: the agent runs as a plain child, after a warning nobody can
// miss. Unlike runUnsandboxed it relays TERM and HUP, because guarded-run holds
// those signals until it has torn the proxy down.
import { spawn } from 'node:child_process'
import type { RunResult } from './run-sandboxed.js'

/** The warning printed before an unsandboxed run. */
export const NO_SANDBOX_WARNING =
  '\n*** guarded-run: --no-sandbox: the agent runs UNSANDBOXED. It can read your SSH keys and cloud\n' +
  '*** credentials and reach the network without the proxy. Only the proxy variables guide it.\n\n'

/** Run `command` unconfined with `env`; resolves with how it ended (127 when it cannot start). */
export function runUnconfined(command: readonly string[], env: Readonly<Record<string, string>>): Promise<RunResult> {
  process.stderr.write(NO_SANDBOX_WARNING)
  const [file, ...args] = command
  if (file === undefined) throw new Error('GUARDED_NO_COMMAND: nothing to run')
  const child = spawn(file, args, { stdio: 'inherit', env })
  // ^C and ^\ reach the child from the terminal already (same process group).
  const relay = (sig: NodeJS.Signals): void => { child.kill(sig) }
  process.on('SIGTERM', relay)
  process.on('SIGHUP', relay)
  return new Promise((resolve) => {
    const done = (result: RunResult): void => {
      process.off('SIGTERM', relay)
      process.off('SIGHUP', relay)
      resolve(result)
    }
    child.once('error', (err) => {
      process.stderr.write(`guarded-run: cannot start ${file}: ${err.message}\n`)
      done({ code: 127, signal: null })
    })
    child.once('exit', (code, signal) => done({ code, signal }))
  })
}
