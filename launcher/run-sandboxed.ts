// The thin, impure shell around the pure planners: create the profile dirs,
// hand the seccomp program and the plan to bwrap, relay the agent's end, and
// remove the empty mount points bwrap left in the workspace. The sandbox starts
// before the proxy is ready, so its Node start-up overlaps the proxy's, and
// holds the agent back until `run` sends the go message (issue #5).
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { buildInnerArgs, buildOuterArgs } from './bwrap-args.js'
import type { AgentStatus, GoMessage, InitConfig } from './sandbox-init.js'
import { SANDBOX_PROXY_SOCKET } from './sandbox-defaults.js'
import type { SandboxPlan } from './sandbox-plan.js'
import { seccompArchFor } from './seccomp/arch-spec.js'
import { buildSeccompFilter } from './seccomp/build-filter.js'
import { writeFilterFd } from './seccomp/write-filter-fd.js'

/** One of the agent's standard streams: inherited (TTY passthrough), ignored, or an open fd. */
export type StdioSlot = 'inherit' | StdioNull | number

/** How startSandbox runs the plan. */
export interface RunOptions {
  /**
   * The run's directory on the host for the proxy's Unix socket (`proxy.sock`), holding nothing else.
   * The proxy may bind the socket after the sandbox started, as long as it does so before `run`.
   */
  readonly proxyDir: string
  /** Absolute path of bwrap; default `bwrap` from PATH. */
  readonly bwrap?: string
  /** The compiled sandbox-init.js; default the sibling of this module. */
  readonly initScript?: string
  /** The seccomp program; default buildSeccompFilter for this machine. */
  readonly seccomp?: Buffer
  /** stdin, stdout, stderr of the agent; default all inherited. */
  readonly stdio?: readonly [StdioSlot, StdioSlot, StdioSlot]
}

/** How the agent ended; `signal` set means it died of that signal (re-raise it with exitLikeAgent). */
export type RunResult = AgentStatus

/** A sandbox that is starting, or waiting for its go: the agent has not started. */
export interface StartedSandbox {
  /**
   * Start the agent with `env` (the proxy must accept connections by now); resolves when the
   * agent and everything it started are gone. Call once, and never after `cancel`.
   */
  run(env: Readonly<Record<string, string>>): Promise<RunResult>
  /** Never start the agent: stop the sandbox and remove what it left. Does nothing once `run` was called. */
  cancel(): Promise<void>
}

const STATUS_FD = 3
const SECCOMP_FD = 4
const CONTROL_FD = 5

/** How long a called-off sandbox has to end by itself before bwrap is killed. */
export const CANCEL_GRACE_MS = 3000
/** How long the sandbox's pipes may outlive bwrap before the wait for them ends. */
export const ORPHAN_GRACE_MS = 2000

/** Start the sandbox for `plan`, with `command` held back until `run`. Throws only when it cannot even try. */
export function startSandbox(plan: SandboxPlan, command: readonly string[], opts: RunOptions): StartedSandbox {
  if (!plan.sandboxed) throw new Error('GUARDED_NO_SANDBOX_PLAN: use runUnconfined for --no-sandbox')
  if (process.platform !== 'linux') throw new Error(`GUARDED_UNSUPPORTED_PLATFORM: guarded-run sandboxes on Linux only (this is ${process.platform})`)
  for (const dir of plan.createDirs) mkdirSync(dir, { recursive: true, mode: 0o700 })
  const filter = writeFilterFd(opts.seccomp ?? buildSeccompFilter(seccompArchFor()))
  let child: ChildProcess
  try {
    child = spawnOuter(plan, command, opts, filter.fd)
  } finally {
    filter.close()
  }
  const control = (child.stdio as readonly unknown[])[CONTROL_FD] as Writable // the typings stop at fd 4
  control.on('error', () => {}) // the sandbox died first: its exit says why
  const ended = waitForExit(child)
  const finish = (): Promise<RunResult> => ended.finally(() => removeStubs(plan.stubs))
  let went = false
  return {
    run(env) {
      went = true
      const go: GoMessage = { env }
      control.end(`${JSON.stringify(go)}\n`)
      const relay = relaySignals(child, plan)
      return finish().finally(() => relay.stop())
    },
    async cancel() {
      if (went) return
      // No go: the init exits without starting the agent, and the sandbox with it. bwrap is not
      // killed first: killed between creating its sandbox and releasing it, bwrap leaves the
      // sandbox blocked for good. Only a sandbox that has not ended by the grace is killed.
      control.end()
      const kill = setTimeout(() => child.kill('SIGKILL'), CANCEL_GRACE_MS)
      await finish().finally(() => clearTimeout(kill))
    },
  }
}

/** Start the sandbox and the agent at once, for a caller whose proxy is already up. */
export function runSandboxed(plan: SandboxPlan, command: readonly string[], opts: RunOptions & { readonly env: Readonly<Record<string, string>> }): Promise<RunResult> {
  return startSandbox(plan, command, opts).run(opts.env)
}

/** End this process the way the agent ended: same exit code, or the same signal re-raised. */
export function exitLikeAgent(result: RunResult): never {
  if (result.signal !== null) {
    process.removeAllListeners(result.signal)
    process.kill(process.pid, result.signal)
  }
  process.exit(result.code ?? 1)
}

/** Remove mount points bwrap created for missing protected paths, if still empty. Deepest first. */
export function removeStubs(stubs: readonly string[]): void {
  for (const path of stubs) {
    try {
      const st = lstatSync(path)
      if (st.isDirectory() && readdirSync(path).length === 0) rmdirSync(path)
      else if (st.isFile() && st.size === 0) unlinkSync(path)
    } catch {
      // already gone, or not ours to remove
    }
  }
}

function spawnOuter(plan: SandboxPlan, command: readonly string[], opts: RunOptions, filterFd: number): ChildProcess {
  const bwrap = opts.bwrap ?? 'bwrap'
  const config: InitConfig = {
    socket: SANDBOX_PROXY_SOCKET,
    port: plan.proxyPort,
    bwrap,
    innerArgs: buildInnerArgs(plan, { command, seccompFd: 3 }),
    seccompFd: SECCOMP_FD,
    statusFd: STATUS_FD,
    controlFd: CONTROL_FD,
  }
  const init = [process.execPath, opts.initScript ?? defaultInitScript(), JSON.stringify(config)]
  const [stdin, stdout, stderr] = opts.stdio ?? ['inherit', 'inherit', 'inherit']
  const stdio: (StdioSlot | StdioPipe)[] = [stdin, stdout, stderr, 'pipe', filterFd, 'pipe']
  // The init needs no more than PATH (and starts without the caller's NODE_OPTIONS);
  // the agent's environment arrives with the go message.
  const env = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' }
  return spawn(bwrap, buildOuterArgs(plan, { proxyDir: opts.proxyDir, init, keepVisible: [installRoot()] }), { stdio, env })
}

/** How the sandbox ended: the init's status line, or bwrap's own exit when there is none. */
function waitForExit(child: ChildProcess): Promise<RunResult> {
  let status = ''
  child.stdio[STATUS_FD]?.on('data', (chunk: Buffer) => { status += chunk.toString('utf8') })
  return new Promise((resolve) => {
    child.once('error', (err) => {
      process.stderr.write(`guarded-run: cannot start bwrap: ${err.message}\n`)
      resolve({ code: 127, signal: null })
    })
    child.once('close', (code, signal) => resolve(parseStatus(status) ?? { code, signal }))
    child.once('exit', () => {
      const abandon = setTimeout(abandonPipes, ORPHAN_GRACE_MS, child)
      child.once('close', () => clearTimeout(abandon))
    })
  })
}

/**
 * bwrap ended, yet the far ends of the sandbox's pipes are still held, so 'close' would never come.
 * Only the sandbox's first process can hold them then: bwrap died of a signal between creating it
 * and releasing it, and it waits for good. Stop waiting for it, and say so.
 */
function abandonPipes(child: ChildProcess): void {
  process.stderr.write(`guarded-run: bwrap (pid ${child.pid}) died while starting its sandbox; the sandbox's first process, also named bwrap, is left waiting and can be killed\n`)
  for (const stream of child.stdio) stream?.destroy()
}

/** While the agent runs: TERM and HUP end it; terminal ^C/^\ already reached the agent unless it has its own session. */
function relaySignals(child: ChildProcess, plan: SandboxPlan): { stop(): void } {
  const handlers = new Map<NodeJS.Signals, () => void>()
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) {
    const fromTerminal = sig === 'SIGINT' || sig === 'SIGQUIT'
    // Killing bwrap kills the whole sandbox: --die-with-parent sends SIGKILL inward.
    const handler = fromTerminal && !plan.newSession ? () => {} : () => { child.kill(sig) }
    handlers.set(sig, handler)
    process.on(sig, handler)
  }
  return { stop: () => { for (const [sig, h] of handlers) process.off(sig, h) } }
}

function parseStatus(text: string): RunResult | undefined {
  try {
    const value = JSON.parse(text.trim().split('\n')[0] ?? '') as RunResult
    return typeof value === 'object' && value !== null && ('code' in value) ? { code: value.code, signal: value.signal } : undefined
  } catch {
    return undefined
  }
}

/** The directory holding Guarded's package.json: its code, preload and profiles, from source or from dist/. */
function installRoot(): string {
  let dir = fileURLToPath(new URL('.', import.meta.url))
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

function defaultInitScript(): string {
  return fileURLToPath(new URL('./sandbox-init.js', import.meta.url))
}
