// Pure: a plan in, bwrap's argv out. Two layers (see sandbox-init.ts): the outer
// one owns the namespaces and the filesystem view and runs our init and the
// forwarder; the inner one runs the agent with no capabilities, no way to make
// another user namespace, and the seccomp filter.
import type { Mount, SandboxPlan } from './sandbox-plan.js'
import { SANDBOX_PROXY_DIR } from './sandbox-defaults.js'

/** What the outer layer needs besides the plan. */
export interface OuterRun {
  /**
   * The run's directory on the host that holds (or will hold) the proxy's Unix socket, and nothing else.
   * The directory is bound, not the socket, so the sandbox can start before the proxy has bound it.
   */
  readonly proxyDir: string
  /** argv of the init process inside the outer layer (node, script, config). */
  readonly init: readonly string[]
  /** Host directories the sandbox must still see read-only (Guarded's own code) even where the private /tmp hides them. */
  readonly keepVisible?: readonly string[]
}

/** What the inner layer needs besides the plan. */
export interface InnerRun {
  /** The agent's argv. */
  readonly command: readonly string[]
  /** fd number (in the inner bwrap) carrying the seccomp program, or null for none. */
  readonly seccompFd: number | null
}

/** argv for the outer bwrap (without `bwrap` itself). */
export function buildOuterArgs(plan: SandboxPlan, run: OuterRun): string[] {
  return [
    // No --cap-drop here: caps stay inside this new user namespace, and the
    // inner bwrap needs them to map its own namespace when the host user is root.
    '--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--die-with-parent',
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    '--proc', '/proc',
    '--tmpfs', '/tmp',
    // Guarded installed (or cloned) under /tmp would vanish under the private /tmp, init script included.
    ...(run.keepVisible ?? []).filter(underTmp).flatMap((dir) => ['--ro-bind', dir, dir]),
    // Host daemons' sockets live under /run (docker.sock, D-Bus, gpg-agent): hide them all.
    '--tmpfs', '/run',
    '--ro-bind', run.proxyDir, SANDBOX_PROXY_DIR,
    ...plan.mounts.flatMap(mountArgs),
    // The init must start plain whatever the caller's NODE_OPTIONS say; the agent's come in its config.
    '--unsetenv', 'NODE_OPTIONS',
    '--chdir', plan.workspace,
    '--', ...run.init,
  ]
}

/** argv for the inner bwrap (without `bwrap` itself), run by sandbox-init inside the outer layer. */
export function buildInnerArgs(plan: SandboxPlan, run: InnerRun): string[] {
  return [
    '--unshare-user', '--disable-userns', '--assert-userns-disabled', '--cap-drop', 'ALL',
    '--die-with-parent',
    // A new session stops TIOCSTI from typing into the user's terminal; when the
    // user is at a terminal we keep it for SIGWINCH and ^C, and the seccomp filter blocks TIOCSTI.
    ...(plan.newSession ? ['--new-session'] : []),
    // The outer view, as is (read-only parts stay read-only), with devices and
    // without the proxy socket. /proc is the outer one: a fresh proc cannot be
    // mounted under the outer one's read-only covers, so the agent shares its PID namespace.
    '--bind', '/', '/',
    '--dev', '/dev',
    '--tmpfs', '/run',
    ...(run.seccompFd === null ? [] : ['--seccomp', String(run.seccompFd)]),
    '--chdir', plan.workspace,
    '--', ...run.command,
  ]
}

function underTmp(dir: string): boolean {
  return dir === '/tmp' || dir.startsWith('/tmp/')
}

/** The bwrap arguments for one mount. */
export function mountArgs(mount: Mount): string[] {
  switch (mount.op) {
    case 'bind': return ['--bind', mount.path, mount.path]
    case 'ro-bind': return ['--ro-bind', mount.path, mount.path]
    case 'cover-dir': return ['--perms', mount.mode, '--tmpfs', mount.path, '--remount-ro', mount.path]
    // ro-bind implies nodev, so opening this /dev/null fails with EACCES rather than reading as empty.
    case 'cover-file': return ['--ro-bind', '/dev/null', mount.path]
  }
}
