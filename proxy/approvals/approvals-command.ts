/** `guarded-proxy approvals list|allow|deny|watch`: an approver in a second terminal beside an agent. */
import { parseArgs } from 'node:util'
import type { Verdict } from '../../policy/types.js'
import { AdminError, createAdminClient, type AdminClient } from './admin-client.js'
import { formatTable, target } from './format-approvals.js'
import { selectProxy, SelectionError, type Selection } from './select-proxy.js'
import type { Scope } from './types.js'

export const APPROVALS_USAGE = `usage: guarded-proxy approvals <list|allow ID|deny ID|watch> [options]

  list                 pending approvals: id prefix, session, prompt, host:port, waiting, expires in
  allow ID             allow the pending approval whose id starts with ID
  deny ID              deny it
  watch                full-screen view in this terminal: requests appear as they are parked;
                       ↑/↓ or j/k select, a allow once, s allow for the session, A always allow,
                       d deny once, D always deny, q quit

  --scope S            once (the requests waiting now), session (the rest of the session),
                       always (written to the proxy's --decisions file) [once]
  --json               list: print the API's JSON instead of a table
  --pid PID            the proxy to use when several are running
  --admin URL          the proxy's admin URL (http://127.0.0.1:3129 or unix:/path)
  --token-file FILE    its admin token file (with --admin, when it has no discovery file)

Running proxies are found through discovery files in $XDG_RUNTIME_DIR/guarded/proxies
(or ~/.local/state/guarded/proxies). Prompt text is shown with control characters removed: it comes
from the agent and is untrusted.
`

const FLAGS = {
  scope: { type: 'string' },
  json: { type: 'boolean' },
  pid: { type: 'string' },
  admin: { type: 'string' },
  'token-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const SCOPES: readonly Scope[] = ['once', 'session', 'always']

/** A mistake in how the command was called (exit 2). */
class UsageError extends Error {}

/** Runs one `approvals` subcommand; resolves with the exit status. */
export async function approvalsCommand(args: readonly string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options: FLAGS, strict: true, allowPositionals: true })
    if (values.help) return void process.stdout.write(APPROVALS_USAGE), 0
    const [sub, id, ...extra] = positionals
    if (extra.length > 0) throw new UsageError(`unexpected ${JSON.stringify(extra[0])}`)
    const scope = parseScope(values.scope)
    const selection = parseSelection(values)
    if (sub === 'list') return await list(await connect(selection), values.json === true)
    if (sub === 'allow' || sub === 'deny') {
      if (id === undefined) throw new UsageError(`${sub} needs the id (or a unique prefix of it) that \`guarded-proxy approvals list\` shows`)
      return await decide(await connect(selection), id, sub, scope)
    }
    if (sub === 'watch') {
      const { watchCommand } = await import('./watch-command.js')
      return await watchCommand(() => connect(selection))
    }
    throw new UsageError(sub === undefined ? 'which subcommand?' : `unknown subcommand ${JSON.stringify(sub)}`)
  } catch (err) {
    const usage = err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true
    process.stderr.write(`guarded-proxy approvals: ${(err as Error).message}\n${usage ? `\n${APPROVALS_USAGE}` : ''}`)
    return usage || (err instanceof SelectionError && err.usage) ? 2 : 1
  }
}

async function connect(selection: Selection): Promise<AdminClient & { name: string }> {
  const proxy = await selectProxy(selection, process.env)
  return Object.assign(createAdminClient(proxy.adminUrl, proxy.token), { name: proxy.name })
}

async function list(client: AdminClient, json: boolean): Promise<number> {
  const approvals = await client.list()
  process.stdout.write(json ? JSON.stringify(approvals, null, 2) + '\n' : formatTable(approvals.pending, Date.now()))
  return 0
}

/** Settles the one pending approval whose id starts with `prefix`; none or several is an error (exit 1). */
async function decide(client: AdminClient, prefix: string, decision: Verdict, scope: Scope): Promise<number> {
  const { pending } = await client.list()
  const matches = pending.filter((a) => a.id.startsWith(prefix))
  const [only] = matches
  if (!only) throw new AdminError(`no pending approval with an id starting ${JSON.stringify(prefix)} (already settled, expired, or mistyped); see guarded-proxy approvals list`)
  if (matches.length > 1) throw new AdminError(`${matches.length} pending approvals have ids starting ${JSON.stringify(prefix)}; type more of the id`)
  const settled = await client.decide(only.id, decision, scope)
  process.stdout.write(`${decision === 'allow' ? 'allowed' : 'denied'} ${target(settled)} (${scope}, session ${settled.session_id}, ${settled.waiting} waiting request${settled.waiting === 1 ? '' : 's'} released)\n`)
  return 0
}

function parseScope(value: string | undefined): Scope {
  if (value === undefined) return 'once'
  if (!SCOPES.includes(value as Scope)) throw new UsageError(`--scope ${value}: expected once, session or always`)
  return value as Scope
}

function parseSelection(values: { pid?: string; admin?: string; 'token-file'?: string }): Selection {
  if (values.pid !== undefined && !/^[1-9]\d{0,9}$/.test(values.pid)) throw new UsageError(`--pid ${values.pid}: expected a process id`)
  if (values['token-file'] !== undefined && values.admin === undefined) throw new UsageError('--token-file goes with --admin URL')
  return {
    ...(values.pid !== undefined && { pid: Number(values.pid) }),
    ...(values.admin !== undefined && { admin: values.admin }),
    ...(values['token-file'] !== undefined && { tokenFile: values['token-file'] }),
  }
}
