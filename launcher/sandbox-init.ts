// PID 2 of the outer sandbox layer (bwrap's reaper is PID 1). Starts the
// forwarder and, once guarded-run says its proxy is ready, runs the inner bwrap
// with the agent and reports how the agent ended. guarded-run starts this layer
// while it is still loading and starting its proxy, so the two Node start-ups
// overlap; the agent starts only after both the forwarder listens and the go
// message arrived. When this process exits, bwrap's PID 1 exits and the kernel
// kills everything left in the PID namespace, so nothing the agent started in
// the background outlives it. Imports only what it needs: its start-up is Node's.
import { spawn } from 'node:child_process'
import { closeSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import { Socket } from 'node:net'
import { constants } from 'node:os'
import { pathToFileURL } from 'node:url'
import { startForwarder } from './forwarder.js'

/** What the launcher hands the init, as JSON in argv (no secrets: argv is world-readable). */
export interface InitConfig {
  /** The proxy socket as the outer layer sees it. */
  readonly socket: string
  readonly port: number
  /** Absolute path of bwrap. */
  readonly bwrap: string
  /** Inner bwrap argv, ending in `-- COMMAND...`. */
  readonly innerArgs: readonly string[]
  /** The init's fd holding the seccomp program, handed to the inner bwrap as its fd 3; null for none. */
  readonly seccompFd: number | null
  /** The init's fd for the one-line JSON status, or null. */
  readonly statusFd: number | null
  /** The init's fd on which the go message arrives; end of file without one means: never start the agent. */
  readonly controlFd: number
}

/**
 * Sent by guarded-run on the control fd, one JSON line, once its proxy accepts connections.
 * The environment travels here, not in the init's own environment: it is only final once the
 * proxy is up (the inspection CA bundle), and the init itself starts with a bare environment.
 */
export interface GoMessage {
  /** The agent's environment, NODE_OPTIONS included. */
  readonly env: Readonly<Record<string, string>>
}

/** How the agent ended, as written to the status fd. */
export interface AgentStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** Exit status of the init when guarded-run called the run off before the agent started. */
export const NOT_STARTED_EXIT = 125

/** Parse and check the config argument. */
export function parseInitConfig(text: string | undefined): InitConfig {
  const value: unknown = JSON.parse(text ?? 'null')
  const c = value as InitConfig
  if (typeof c !== 'object' || c === null || typeof c.socket !== 'string' || typeof c.bwrap !== 'string' ||
      !Number.isInteger(c.port) || !Array.isArray(c.innerArgs) || !Number.isInteger(c.controlFd)) {
    throw new Error('GUARDED_BAD_INIT_CONFIG: sandbox-init expects one JSON argument from guarded-run')
  }
  return c
}

/** The go message, or null for anything else: a bad line is no reason to start the agent. */
export function parseGoMessage(text: string): GoMessage | null {
  try {
    const value = JSON.parse(text.split('\n')[0] ?? '') as GoMessage
    const env: unknown = value?.env
    if (typeof env !== 'object' || env === null || Array.isArray(env)) return null
    return Object.values(env).every((v) => typeof v === 'string') ? value : null
  } catch {
    return null
  }
}

/** Run the agent under the forwarder once the go message came; resolves with how it ended, or null if it never started. */
export async function runInit(config: InitConfig): Promise<AgentStatus | null> {
  const [go] = await Promise.all([readGo(config.controlFd), startForwarder(config.socket, config.port)])
  if (go === null) return null
  const child = spawn(config.bwrap, config.innerArgs, {
    stdio: ['inherit', 'inherit', 'inherit', config.seccompFd ?? 'ignore'],
    env: go.env,
  })
  // ^C and ^\ from the terminal reach the agent directly (same process group);
  // relaying them too would deliver each twice. TERM and HUP come from guarded-run.
  for (const sig of ['SIGINT', 'SIGQUIT'] as const) process.on(sig, () => {})
  for (const sig of ['SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig))
  return new Promise((resolve) => {
    child.once('error', (err) => {
      process.stderr.write(`guarded-run: cannot start the inner sandbox: ${err.message}\n`)
      resolve({ code: 127, signal: null })
    })
    child.once('exit', (code, signal) => resolve(agentStatus(code, signal)))
  })
}

/** Everything guarded-run writes on `fd` until it closes its end; resolves once the fd is closed, so the agent cannot inherit it. */
function readGo(fd: number): Promise<GoMessage | null> {
  const input = new Socket({ fd, readable: true, writable: false })
  let text = ''
  return new Promise((resolve) => {
    input.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
    input.on('error', () => {}) // 'close' follows, with whatever arrived
    input.once('close', () => resolve(parseGoMessage(text)))
  })
}

/**
 * Close every inherited fd above stderr that is not close-on-exec, except `keep`.
 * Whatever launched guarded-run may have leaked descriptors (a socket to a host
 * daemon is a way out); Node's spawn passes them on to the agent untouched.
 */
export function closeInheritedFds(keep: readonly number[]): number[] {
  const closed: number[] = []
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name)
    if (fd <= 2 || keep.includes(fd) || isCloseOnExec(fd)) continue
    try {
      closeSync(fd)
      closed.push(fd)
    } catch {
      // the fd readdir itself used, already gone
    }
  }
  return closed
}

function isCloseOnExec(fd: number): boolean {
  try {
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1]
    return flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) !== 0
  } catch {
    return true // gone: nothing to close
  }
}

const O_CLOEXEC = 0o2000000 // include/uapi/asm-generic/fcntl.h

/**
 * How the agent ended, from the inner bwrap's exit. bwrap reports a child
 * killed by signal N as exit 128+N (the shell convention), so that is read back
 * as the signal; an agent that exits 128+N by hand is reported the same way a shell would.
 */
export function agentStatus(code: number | null, signal: NodeJS.Signals | null): AgentStatus {
  if (signal !== null || code === null || code <= 128) return { code, signal }
  const name = (Object.keys(constants.signals) as NodeJS.Signals[]).find((s) => constants.signals[s] === code - 128)
  return name === undefined ? { code, signal: null } : { code: null, signal: name }
}

async function main(): Promise<void> {
  const config = parseInitConfig(process.argv[2])
  closeInheritedFds([config.seccompFd, config.statusFd, config.controlFd].filter((fd): fd is number => fd !== null))
  const status = await runInit(config)
  if (status === null) process.exit(NOT_STARTED_EXIT)
  if (config.statusFd !== null) writeSync(config.statusFd, `${JSON.stringify(status)}\n`)
  process.exit(status.code ?? 128 + signalNumber(status.signal))
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : (constants.signals[signal] ?? 0)
}

// Bundled, this module is an entry point of its own: the launcher imports only its types,
// so this check never sees the launcher's argv[1].
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`guarded-run: sandbox init failed: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(125)
  })
}
