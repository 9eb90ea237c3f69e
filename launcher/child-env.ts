// The agent's environment: every proxy variable points at the in-sandbox
// forwarder, and anything that looks like a credential stays outside.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What buildChildEnv needs from the run. */
export interface ChildEnvPlan {
  /** The forwarder's port on 127.0.0.1 inside the sandbox. */
  readonly proxyPort: number
  /** Names kept although they look like secrets: the profile's and `--keep-env`. */
  readonly keepEnv: readonly string[]
  /** Absolute path of use-env-proxy.cjs, required by every Node process (it no-ops on Node 24+); null to skip. */
  readonly preloadPath: string | null
}

/** A process environment as Node hands it over. */
export type Env = Readonly<Record<string, string | undefined>>

// Substrings that mark a variable as a credential (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY,
// DB_PASSWORD, GOOGLE_APPLICATION_CREDENTIALS); AZURE_* covers the azure-identity set.
const SECRET_NAME = /TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|^AZURE_|^AWS_/i
// Agent sockets and session buses sit outside the sandbox and could sign or act for the user.
const ALWAYS_REMOVED = ['SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'GPG_AGENT_INFO', 'DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR']
// Not secrets, though they match the pattern; removing them breaks ordinary tools.
const NOT_SECRETS = new Set(['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'KEYTIMEOUT', 'GPG_TTY'])
const PROXY_NAMES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY']
const NO_PROXY = 'localhost,127.0.0.1,::1'

/** Tells git (and the user) why `git@host:` remotes fail; git runs this through sh with ssh's arguments appended. */
export const GIT_SSH_REFUSAL =
  "sh -c 'echo \"guarded-run: git over SSH is not supported in the sandbox yet; use an https:// remote, which goes through the proxy\" >&2; exit 1'"

/** The environment the agent starts with. */
export function buildChildEnv(parentEnv: Env, plan: ChildEnvPlan): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(parentEnv)) {
    if (value !== undefined && !isRemoved(name, plan.keepEnv)) env[name] = value
  }
  const proxy = `http://127.0.0.1:${plan.proxyPort}`
  for (const name of PROXY_NAMES) {
    env[name] = proxy
    env[name.toLowerCase()] = proxy
  }
  env.NO_PROXY = NO_PROXY
  env.no_proxy = NO_PROXY
  env.NODE_USE_ENV_PROXY = '1' // Node 24+ reads the variables above for fetch and http
  env.GIT_SSH_COMMAND = GIT_SSH_REFUSAL
  env.TMPDIR = '/tmp' // the sandbox's private, writable /tmp; the host's TMPDIR may be hidden
  if (plan.preloadPath !== null) env.NODE_OPTIONS = withRequire(parentEnv.NODE_OPTIONS, plan.preloadPath)
  return env
}

/** The names buildChildEnv drops from `parentEnv`, sorted, so the launcher can say what it removed. */
export function removedEnvNames(parentEnv: Env, keepEnv: readonly string[]): string[] {
  return Object.keys(parentEnv).filter((name) => isRemoved(name, keepEnv)).sort()
}

/** Whether `name` looks like a credential (ignoring keep lists). */
export function looksSecret(name: string): boolean {
  return SECRET_NAME.test(name) && !NOT_SECRETS.has(name.toUpperCase())
}

/** The shipped preload, found from source (launcher/) or build (dist/launcher/) layout. */
export function defaultPreloadPath(): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  const candidates = [join(here, 'preload', 'use-env-proxy.cjs'), join(here, '..', '..', 'launcher', 'preload', 'use-env-proxy.cjs')]
  const found = candidates.find((p) => existsSync(p))
  if (found === undefined) throw new Error(`GUARDED_PRELOAD_MISSING: use-env-proxy.cjs not found in ${candidates.join(' or ')}`)
  return found
}

function isRemoved(name: string, keepEnv: readonly string[]): boolean {
  if (ALWAYS_REMOVED.includes(name)) return true
  return looksSecret(name) && !keepEnv.includes(name)
}

function withRequire(existing: string | undefined, preload: string): string {
  // NODE_OPTIONS splits on spaces; double quotes keep a path with spaces whole.
  const quoted = /[\s"\\]/.test(preload) ? `"${preload.replace(/["\\]/g, '\\$&')}"` : preload
  return existing === undefined || existing.trim() === '' ? `--require ${quoted}` : `--require ${quoted} ${existing}`
}

/** `env` with every proxy variable set to `url` (`--proxy` with credentials, or --no-sandbox with a running proxy). */
export function withProxyUrl(env: Readonly<Record<string, string>>, url: string): Record<string, string> {
  const out = { ...env }
  for (const name of PROXY_NAMES) {
    out[name] = url
    out[name.toLowerCase()] = url
  }
  return out
}
