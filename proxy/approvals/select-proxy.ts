/** Chooses the proxy the `approvals` command talks to: the one named by flags, or the one live proxy discovery finds. */
import { readFile } from 'node:fs/promises'
import { runtimeDir } from '../admin-token.js'
import { discoveryDir, readDiscovery, type DiscoveryEntry } from './discovery.js'

/** Flags that select a proxy explicitly. */
export interface Selection {
  readonly admin?: string
  readonly tokenFile?: string
  readonly pid?: number
}

/** The proxy to talk to and its token. */
export interface SelectedProxy {
  readonly adminUrl: string
  readonly token: string
  /** How it was found, for the watch header: `pid 1234 (serve)` or the admin URL. */
  readonly name: string
}

/** No proxy, or more than one, or an unreadable token: `message` says what to do; `usage` marks "choose one" (exit 2). */
export class SelectionError extends Error {
  constructor(
    message: string,
    readonly usage = false,
  ) {
    super(message)
  }
}

/** Resolves the selection against the discovery files in the runtime directory of `env`. */
export async function selectProxy(selection: Selection, env: NodeJS.ProcessEnv): Promise<SelectedProxy> {
  const runtime = runtimeDir(env)
  if (selection.admin !== undefined && selection.tokenFile !== undefined) return withToken(selection.admin, selection.tokenFile, selection.admin)
  const live = await readDiscovery(runtime)
  const matches = live.filter((e) => (selection.pid === undefined || e.pid === selection.pid) && (selection.admin === undefined || e.admin_url === selection.admin))
  const [only] = matches
  if (only && matches.length === 1) return withToken(only.admin_url, selection.tokenFile ?? only.token_file, `pid ${only.pid} (${only.label})`)
  if (matches.length > 1) throw new SelectionError(`several guarded proxies are running; choose one with --pid:\n${live.map(describe).join('\n')}`, true)
  const where = discoveryDir(runtime)
  if (selection.pid !== undefined || selection.admin !== undefined) {
    const flag = selection.pid !== undefined ? `--pid ${selection.pid}` : `--admin ${selection.admin} (add --token-file FILE for a proxy without a discovery file)`
    throw new SelectionError(`no running guarded proxy matches ${flag} in ${where}${live.length ? `; running:\n${live.map(describe).join('\n')}` : ''}`, true)
  }
  throw new SelectionError(`no running guarded proxy found in ${where}; start one with guarded-proxy serve, or pass --admin URL --token-file FILE`)
}

/** One line per proxy: what `--pid` to pass, what it is and where. */
function describe(e: DiscoveryEntry): string {
  return `  --pid ${e.pid}  ${e.label}  admin ${e.admin_url}  proxy ${e.proxy_urls.join(' ')}  since ${e.started_at}`
}

async function withToken(adminUrl: string, tokenFile: string, name: string): Promise<SelectedProxy> {
  const token = (await readFile(tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new SelectionError(`cannot read the admin token file ${tokenFile}: ${err.code ?? err.message}`)
  })).trim()
  return { adminUrl, token, name }
}
