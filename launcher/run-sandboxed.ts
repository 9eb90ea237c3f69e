// The thin, impure shell around the pure planners: create the profile dirs,
// hand the seccomp program and the plan to bwrap, relay the agent's end, and
// remove the empty mount points bwrap left in the workspace.
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildInnerArgs, buildOuterArgs } from './bwrap-args.js'
import type { InitConfig, AgentStatus } from './sandbox-init.js'
import { SANDBOX_PROXY_SOCKET } from './sandbox-defaults.js'
import type { SandboxPlan } from './sandbox-plan.js'
import { seccompArchFor } from './seccomp/arch-spec.js'
import { buildSeccompFilter } from './seccomp/build-filter.js'
import { writeFilterFd } from './seccomp/write-filter-fd.js'

/** One of the agent's standard streams: inherited (TTY passthrough), ignored, or an open fd. */
export type StdioSlot = 'inherit' | StdioNull | number

/** How runSandboxed runs the plan. */
export interface RunOptions {
  /** The proxy's Unix socket for this run (it identifies the session). */
  readonly proxySocket: string
  /** The agent's environment, from buildChildEnv. */
  readonly env: Readonly<Record<string, string>>
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

const STATUS_FD = 3
const SECCOMP_FD = 4

/** Run `command` in the sandbox described by `plan`; resolves when the agent and everything it started are gone. */
export async function runSandboxed(plan: SandboxPlan, command: readonly string[], opts: RunOptions): Promise<RunResult> {
  if (!plan.sandboxed) throw new Error('GUARDED_NO_SANDBOX_PLAN: use runUnsandboxed for --no-sandbox')
  if (process.platform !== 'linux') throw new Error(`GUARDED_UNSUPPORTED_PLATFORM: guarded-run sandboxes on Linux only (this is ${process.platform})`)
  for (const dir of plan.createDirs) mkdirSync(dir, { recursive: true, mode: 0o700 })
  const filter = writeFilterFd(opts.seccomp ?? buildSeccompFilter(seccompArchFor()))
  try {
    const child = spawnOuter(plan, command, opts, filter.fd)
    filter.close()
    return await waitForAgent(child, plan)
  } finally {
    filter.close()
    removeStubs(plan.stubs)
  }
}

/** `--no-sandbox`: run the agent unconfined, after a warning nobody can miss. */
export async function runUnsandboxed(command: readonly string[], env: Readonly<Record<string, string>>): Promise<RunResult> {
  process.stderr.write('\n*** guarded-run: --no-sandbox: the agent runs UNSANDBOXED. It can read your SSH keys and cloud\n' +
    '*** credentials and reach the network without the proxy. Only the proxy variables guide it.\n\n')
  const [file, ...args] = command
  if (file === undefined) throw new Error('GUARDED_NO_COMMAND: nothing to run')
  const child = spawn(file, args, { stdio: 'inherit', env })
  return new Promise((resolve) => {
    child.once('error', () => resolve({ code: 127, signal: null }))
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
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
  const { NODE_OPTIONS: nodeOptions, ...env } = opts.env
  const bwrap = opts.bwrap ?? 'bwrap'
  const config: InitConfig = {
    socket: SANDBOX_PROXY_SOCKET,
    port: plan.proxyPort,
    bwrap,
    innerArgs: buildInnerArgs(plan, { command, seccompFd: 3 }),
    seccompFd: SECCOMP_FD,
    statusFd: STATUS_FD,
    nodeOptions: nodeOptions ?? null,
  }
  const init = [process.execPath, opts.initScript ?? defaultInitScript(), JSON.stringify(config)]
  const [stdin, stdout, stderr] = opts.stdio ?? ['inherit', 'inherit', 'inherit']
  const stdio: (StdioSlot | StdioPipe)[] = [stdin, stdout, stderr, 'pipe', filterFd]
  return spawn(bwrap, buildOuterArgs(plan, { proxySocket: opts.proxySocket, init, keepVisible: [installRoot()] }), { stdio, env })
}

function waitForAgent(child: ChildProcess, plan: SandboxPlan): Promise<RunResult> {
  let status = ''
  child.stdio[STATUS_FD]?.on('data', (chunk: Buffer) => { status += chunk.toString('utf8') })
  const relay = relaySignals(child, plan)
  return new Promise((resolve) => {
    child.once('error', (err) => {
      relay.stop()
      process.stderr.write(`guarded-run: cannot start bwrap: ${err.message}\n`)
      resolve({ code: 127, signal: null })
    })
    child.once('close', (code, signal) => {
      relay.stop()
      resolve(parseStatus(status) ?? { code, signal })
    })
  })
}

/** While the sandbox runs: TERM and HUP end it; terminal ^C/^\ already reached the agent unless it has its own session. */
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
