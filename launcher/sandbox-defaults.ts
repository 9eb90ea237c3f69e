// The lists that make the sandbox's filesystem view: what stays read-only inside
// the workspace and what is unreadable everywhere. Users can add; nobody removes.

/** A path whose kind must be known before it exists, so we can cover it with the right shape. */
export interface PathEntry {
  /** Relative to the workspace (protected) or to HOME (secrets). */
  readonly path: string
  readonly kind: 'file' | 'dir'
  /**
   * Cover the path even when it does not exist, so the agent cannot create it.
   * Costs an empty mount point in the user's workspace for the length of the run.
   */
  readonly coverMissing: boolean
}

const RC_FILES = ['.bashrc', '.bash_profile', '.bash_login', '.profile', '.zshrc', '.zshenv', '.zprofile', '.zlogin']

/**
 * Read-only inside the workspace: files that make a later, unsandboxed program
 * run code (git hooks, git config `core.fsmonitor`, shell rc, direnv's .envrc)
 * or steer an agent or editor the next time the user opens the folder.
 */
export const DEFAULT_PROTECTED: readonly PathEntry[] = Object.freeze([
  dir('.git/hooks'), file('.git/config'), dir('.guarded'), dir('.vscode'), dir('.idea'),
  dir('.codex'), dir('.claude'), dir('.agents'), file('.mcp.json'),
  // A shell never reads rc files from a project folder and direnv runs only an
  // .envrc the user allowed, so a missing one stays missing (no mount point in
  // the user's tree); an existing one is read-only.
  ...['.envrc', ...RC_FILES].map((path) => Object.freeze({ path, kind: 'file' as const, coverMissing: false })),
])

/** Unreadable in the sandbox, relative to HOME: credentials the agent never needs. */
export const DEFAULT_HOME_SECRETS: readonly string[] = Object.freeze([
  '.ssh', '.gnupg', '.aws', '.config/gcloud', '.azure', '.kube', '.docker/config.json',
  '.netrc', '.git-credentials', '.config/gh', '.npmrc', '.pypirc',
])

/** Unreadable in the sandbox, matched (picomatch) against workspace-relative paths. */
export const DEFAULT_DENY_READ_GLOBS: readonly string[] = Object.freeze(['**/.env', '**/.env.*'])

/** Directories the workspace scan does not enter: huge, and not where secrets are committed. */
export const SCAN_SKIP_DIRS: readonly string[] = Object.freeze(['.git', 'node_modules'])

/** The port the forwarder listens on inside the sandbox (the agent's HTTP(S)_PROXY). */
export const DEFAULT_PROXY_PORT = 3128

/** The proxy socket's file name inside the run's socket directory, on the host and in the sandbox alike. */
export const PROXY_SOCKET_NAME = 'proxy.sock'

/** Where the outer layer sees the run's socket directory; the inner layer hides /run. */
export const SANDBOX_PROXY_DIR = '/run/guarded'

/** Where the outer layer sees the proxy's Unix socket. */
export const SANDBOX_PROXY_SOCKET = `${SANDBOX_PROXY_DIR}/${PROXY_SOCKET_NAME}`

function dir(path: string): PathEntry {
  return Object.freeze({ path, kind: 'dir', coverMissing: true })
}

function file(path: string): PathEntry {
  return Object.freeze({ path, kind: 'file', coverMissing: true })
}
