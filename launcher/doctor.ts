// `guarded-run doctor`: can this machine enforce the sandbox? Facts are gathered
// once (the impure part), judged by a pure function into checks, and printed.
// guarded-run refuses to start while any check fails: it never runs unsandboxed by accident.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** A check's outcome; `warn` does not block a run. */
export type CheckStatus = 'pass' | 'warn' | 'fail'

/** One line of the doctor's report. */
export interface Check {
  readonly id: 'platform' | 'bwrap' | 'bwrap-version' | 'userns' | 'apparmor' | 'nested-sandbox'
  readonly status: CheckStatus
  readonly summary: string
  /** What to do about it, when it is not a pass. */
  readonly fix?: string
}

/** What the checks are judged on. */
export interface DoctorFacts {
  readonly platform: NodeJS.Platform
  /** `bwrap --version` output, or null if bwrap could not be run. */
  readonly bwrapVersion: string | null
  /** /proc/sys/user/max_user_namespaces, or null if absent. */
  readonly maxUserNamespaces: string | null
  /** /proc/sys/kernel/unprivileged_userns_clone (Debian's switch), or null if absent. */
  readonly unprivilegedUsernsClone: string | null
  /** /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu 23.10+), or null if absent. */
  readonly apparmorRestrict: string | null
  /** Result of a real two-layer bwrap run, or null if not attempted. */
  readonly nestedSandbox: { readonly ok: boolean; readonly error: string } | null
}

/** bwrap 0.8.0 added --disable-userns and --assert-userns-disabled. */
export const MIN_BWRAP: readonly [number, number, number] = [0, 8, 0]

/** Judge the facts. Pure. */
export function evaluateChecks(f: DoctorFacts): Check[] {
  if (f.platform !== 'linux') {
    return [{ id: 'platform', status: 'fail', summary: `guarded-run does not sandbox on ${f.platform === 'darwin' ? 'macOS' : f.platform} yet`,
      fix: 'run it on Linux (a VM or a dev container works); macOS support is planned' }]
  }
  return [checkBwrap(f), checkVersion(f), checkUserns(f), checkApparmor(f), checkNested(f)].filter((c): c is Check => c !== undefined)
}

/** The failing checks: if any, guarded-run must refuse to start. */
export function blockers(checks: readonly Check[]): Check[] {
  return checks.filter((c) => c.status === 'fail')
}

/** Human-readable report, one check per line with its fix underneath. */
export function formatChecks(checks: readonly Check[]): string {
  const mark = { pass: 'ok  ', warn: 'warn', fail: 'FAIL' } as const
  return checks.map((c) => `${mark[c.status]} ${c.id}: ${c.summary}${c.fix === undefined ? '' : `\n     fix: ${c.fix}`}`).join('\n') + '\n'
}

/** Parse `bubblewrap 0.8.0` into [0, 8, 0]; null if unrecognised. */
export function parseBwrapVersion(text: string): [number, number, number] | null {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text)
  return m === null ? null : [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]
}

/**
 * Look at this machine. Runs bwrap twice, side by side (version, nested smoke test), so that
 * guarded-run can plan the sandbox meanwhile; the smoke test only counts when the version ran.
 */
export async function gatherFacts(bwrap = 'bwrap'): Promise<DoctorFacts> {
  const linux = process.platform === 'linux'
  const [version, nested] = await Promise.all([run(bwrap, ['--version']), linux ? nestedSmokeTest(bwrap) : null])
  const bwrapVersion = version.ok ? version.stdout.trim() : null
  return {
    platform: process.platform,
    bwrapVersion,
    maxUserNamespaces: readProc('/proc/sys/user/max_user_namespaces'),
    unprivilegedUsernsClone: readProc('/proc/sys/kernel/unprivileged_userns_clone'),
    apparmorRestrict: readProc('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    nestedSandbox: bwrapVersion === null || nested === null ? null : { ok: nested.ok, error: nested.error },
  }
}

function checkBwrap(f: DoctorFacts): Check {
  return f.bwrapVersion === null
    ? { id: 'bwrap', status: 'fail', summary: 'bubblewrap (bwrap) is not installed or cannot run',
        fix: 'install it: `sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch)' }
    : { id: 'bwrap', status: 'pass', summary: f.bwrapVersion }
}

function checkVersion(f: DoctorFacts): Check | undefined {
  if (f.bwrapVersion === null) return undefined
  const v = parseBwrapVersion(f.bwrapVersion)
  const ok = v !== null && compare(v, MIN_BWRAP) >= 0
  return ok
    ? { id: 'bwrap-version', status: 'pass', summary: `${v?.join('.')} >= ${MIN_BWRAP.join('.')}` }
    : { id: 'bwrap-version', status: 'fail', summary: `bwrap ${v?.join('.') ?? '(unknown version)'} is older than ${MIN_BWRAP.join('.')}, which added --disable-userns`,
        fix: 'upgrade bubblewrap to 0.8.0 or later (Debian 12 backports, Ubuntu 24.04, Fedora 38+ ship it)' }
}

function checkUserns(f: DoctorFacts): Check {
  if (f.maxUserNamespaces === '0') {
    return { id: 'userns', status: 'fail', summary: 'user namespaces are disabled (user.max_user_namespaces = 0)',
      fix: 'sudo sysctl -w user.max_user_namespaces=15000 (and persist it in /etc/sysctl.d/)' }
  }
  if (f.unprivilegedUsernsClone === '0') {
    return { id: 'userns', status: 'fail', summary: 'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)',
      fix: 'sudo sysctl -w kernel.unprivileged_userns_clone=1 (and persist it in /etc/sysctl.d/)' }
  }
  return { id: 'userns', status: 'pass', summary: 'unprivileged user namespaces are enabled' }
}

function checkApparmor(f: DoctorFacts): Check | undefined {
  if (f.apparmorRestrict !== '1') return undefined
  // Ubuntu's restriction is lifted per program by an AppArmor profile; the nested test tells whether bwrap has one.
  return f.nestedSandbox?.ok === true
    ? { id: 'apparmor', status: 'pass', summary: 'AppArmor restricts unprivileged user namespaces, but bwrap is allowed by a profile' }
    : { id: 'apparmor', status: 'fail', summary: 'AppArmor blocks unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)',
        fix: 'allow bwrap with an AppArmor profile granting `userns,` (see /etc/apparmor.d/bwrap-userns-restrict on Ubuntu 24.04+), or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0' }
}

function checkNested(f: DoctorFacts): Check | undefined {
  if (f.nestedSandbox === null) return undefined
  return f.nestedSandbox.ok
    ? { id: 'nested-sandbox', status: 'pass', summary: 'a two-layer sandbox with --disable-userns starts' }
    : { id: 'nested-sandbox', status: 'fail', summary: `a two-layer bwrap sandbox does not start: ${f.nestedSandbox.error}`,
        fix: 'run `guarded-run doctor` on the host, not inside another container; check the items above' }
}

function nestedSmokeTest(bwrap: string): Promise<Ran> {
  const outer = ['--unshare-user', '--unshare-pid', '--unshare-net', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp']
  const inner = ['--unshare-user', '--disable-userns', '--assert-userns-disabled', '--cap-drop', 'ALL', '--die-with-parent', '--bind', '/', '/', '--dev', '/dev', 'true']
  return run(bwrap, [...outer, bwrap, ...inner])
}

interface Ran { readonly ok: boolean; readonly stdout: string; readonly error: string }

/** Run a probe to its end (10 s at most); never rejects. */
function run(file: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code
      const why = typeof code === 'number' ? `exit ${code}` : err?.message ?? ''
      resolve({ ok: err === null, stdout, error: (stderr || why).trim() })
    })
  })
}

function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return null
  }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0)
  return 0
}
