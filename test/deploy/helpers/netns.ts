/** Throwaway network namespaces for deploy tests: a "pod" wired by a veth pair to an "internet" namespace. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'

/** What a test needs of tap's `t`: only teardown, so helpers stay runner-agnostic. */
export interface Teardown { teardown(fn: () => unknown): void }

/** The two namespaces and the documentation-range addresses (RFC 5737, RFC 3849) on their veth ends. */
export interface Namespaces {
  readonly pod: string
  readonly net: string
  readonly podV4: string
  readonly netV4: string
  readonly podV6: string
  readonly netV6: string
}

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailable(tools: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces'
  for (const tool of ['ip', 'setpriv', ...tools]) {
    if (!onPath(tool)) return `needs ${tool} on PATH`
  }
  return undefined
}

/** Whether an executable of that name is on PATH. */
export function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(':').some(dir => existsSync(`${dir}/${tool}`))
}

/**
 * The environment for processes the test runs under other UIDs: without tap's NODE_OPTIONS
 * (its loaders would slow every probe and try to write coverage into .tap as that UID).
 */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k !== 'NODE_OPTIONS' && !k.startsWith('TAP') && !k.startsWith('_TAPJS')) env[k] = v
  }
  return { ...env, ...extra }
}

/** Runs a command synchronously and returns its stdout; throws with stderr on failure. */
export function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs a command inside a namespace. */
export function inNs(ns: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], env)
}

/**
 * Creates a pod namespace and an "internet" namespace joined by a veth pair. Every address
 * lives on interfaces inside these namespaces, so nothing sent here can leave the machine.
 */
export function makeNamespaces(t: Teardown): Namespaces {
  const id = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`
  const ns: Namespaces = {
    pod: `gdpod-${id}`, net: `gdnet-${id}`,
    podV4: '192.0.2.1', netV4: '192.0.2.2', podV6: '2001:db8:47::1', netV6: '2001:db8:47::2',
  }
  t.teardown(() => deleteNamespaces(ns))
  run('ip', ['netns', 'add', ns.pod])
  run('ip', ['netns', 'add', ns.net])
  run('ip', ['-n', ns.pod, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.net])
  wire(ns.pod, ns.podV4, ns.podV6, ns.netV4, ns.netV6)
  wire(ns.net, ns.netV4, ns.netV6)
  return ns
}

function wire(ns: string, v4: string, v6: string, gw4?: string, gw6?: string): void {
  const ip = (...args: string[]): string => run('ip', ['-n', ns, ...args])
  ip('link', 'set', 'lo', 'up')
  ip('addr', 'add', `${v4}/24`, 'dev', 'eth0')
  ip('-6', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad')
  ip('link', 'set', 'eth0', 'up')
  if (gw4 !== undefined) ip('route', 'add', 'default', 'via', gw4)
  if (gw6 !== undefined) ip('-6', 'route', 'add', 'default', 'via', gw6)
}

function deleteNamespaces(ns: Namespaces): void {
  for (const name of [ns.pod, ns.net]) {
    try { run('ip', ['netns', 'del', name]) } catch { /* never created, or already gone */ }
  }
}

/** The command prefix that runs as a given UID/GID with no supplementary groups. */
export function asUid(uid: number): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']
}

/** A long-running child inside a namespace, resolved once it prints a line matching `ready`. */
export async function startIn(
  t: Teardown, ns: string, argv: readonly string[], ready: RegExp, timeoutMs = 15_000,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() })
  t.teardown(() => stop(child))
  let output = ''
  const collect = (b: Buffer): void => { output += b.toString() }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in ${timeoutMs}ms: ${argv.join(' ')}\n${output}`)), timeoutMs)
    const check = (): void => { if (ready.test(output)) { clearTimeout(timer); resolve() } }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`exited ${code}: ${argv.join(' ')}\n${output}`)) })
  })
  return { child, output: () => output }
}

/** Ends a child we started, by its own handle, and waits for it. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}
