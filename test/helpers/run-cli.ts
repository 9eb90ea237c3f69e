/** Runs the built `guarded-proxy` as a real child process (signals, stdout lines, exit codes). */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect, createServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'

/** Path of the compiled CLI; `npm test` builds before running tap. */
export const CLI = fileURLToPath(new URL('../../dist/proxy/cli.js', import.meta.url))

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A started `serve` child with its parsed listener URLs. */
export interface ServeChild {
  readonly child: ChildProcess
  readonly proxyUrl: string
  readonly adminUrl: string
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `guarded-proxy serve ARGS` and waits for both "listening" lines (or rejects with its stderr). */
export function startServe(t: Teardown, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<ServeChild> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d))
  child.stderr.on('data', (d: Buffer) => (err += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const proxy = /guarded-proxy listening on (\S+)/.exec(out)
      const admin = /guarded-proxy admin on (\S+)/.exec(out)
      if (proxy?.[1] && admin?.[1]) {
        child.stdout.off('data', check)
        resolve({ child, proxyUrl: proxy[1], adminUrl: admin[1], stdout: () => out, stderr: () => err, exited })
      }
    }
    child.stdout.on('data', check)
    void exited.then(({ code }) => reject(new Error(`serve exited (${code}) before listening: ${err}`)))
  })
}

/** How `runCli` runs the child: its environment, and how long it may take before it is killed. */
export interface CliRun {
  readonly env?: NodeJS.ProcessEnv
  /** Kill the child (and report `hung`) if it is still running after this many ms. */
  readonly ms?: number
}

/** Runs the CLI to completion and returns its output. */
export function runCli(args: readonly string[], { env = process.env, ms }: CliRun = {}): Promise<{ code: number | null; stdout: string; stderr: string; hung: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let hung = false
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    const timer = ms === undefined ? undefined : setTimeout(() => {
      hung = true
      child.kill('SIGKILL')
    }, ms)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, hung })
    })
  })
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a listener the test names up front). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Runs `serve ARGS` expecting it to exit; kills it (and says so) if it is still running after `ms`. */
export function runServeToExit(args: readonly string[], ms = 30_000, extraEnv: NodeJS.ProcessEnv = {}): ReturnType<typeof runCli> {
  // Without tap's NODE_OPTIONS: its coverage hook makes each child take seconds to start on a busy machine.
  return runCli(['serve', ...args], { env: { ...process.env, NODE_OPTIONS: '', ...extraEnv }, ms })
}
