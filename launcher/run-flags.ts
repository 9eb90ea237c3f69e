// `guarded-run`'s command line, parsed into one frozen value. Pure: no files,
// no environment, so every flag and every mistake is table-tested.
import { parseArgs } from 'node:util'
import type { HumanApprover } from '../policy/approval-config.js'
import { normalizeHost } from '../policy/normalize-host.js'

/** What `guarded-run [options] -- COMMAND...` asked for. */
export interface RunFlags {
  /** The agent's argv (everything after `--`). */
  readonly command: readonly string[]
  /** `--policy FILE`, in precedence order; empty means "the layered default" (see resolvePolicyFiles). */
  readonly policy: readonly string[]
  /** `--allow-write PATH`: extra writable paths. */
  readonly allowWrite: readonly string[]
  /** `--deny-read GLOB`: extra unreadable paths or workspace globs. */
  readonly denyRead: readonly string[]
  /** `--protect PATH`: extra read-only workspace paths. */
  readonly protect: readonly string[]
  /** `--keep-env NAME`: secret-looking variables passed through anyway. */
  readonly keepEnv: readonly string[]
  /** `--profile NAME`; undefined means "detect from the command". */
  readonly profile?: string
  /** `--proxy URL`: use this running proxy instead of starting one. */
  readonly proxy?: ProxyTarget
  /** `--resolve NAME=IP` pins for the in-process proxy, keyed by normalised name. */
  readonly resolve: ReadonlyMap<string, readonly string[]>
  /** `--approver NAME`, passed to the in-process proxy. */
  readonly approvers: readonly HumanApprover[]
  /** `--audit-log FILE`; undefined means `<runtime dir>/runs/SESSION.jsonl`. */
  readonly auditLog?: string
  /** `--requirements FILE`; else `/etc/guarded/requirements.yaml` when it exists. */
  readonly requirements?: string
  /** `--summary`: one line of counts on stderr at the end. */
  readonly summary: boolean
  /** `--quiet`: no warnings. */
  readonly quiet: boolean
  /** `--no-sandbox`: run unconfined, loudly. */
  readonly noSandbox: boolean
}

/** A running proxy named by `--proxy http://[ID:TOKEN@]HOST:PORT`. */
export interface ProxyTarget {
  readonly host: string
  readonly port: number
  /** The session credentials from the URL, decoded; null when the URL has none. */
  readonly credentials: { readonly id: string; readonly token: string } | null
}

/** What the command line asks for. */
export type CliRequest = { readonly kind: 'run'; readonly flags: RunFlags } | { readonly kind: 'doctor' } | { readonly kind: 'help' } | { readonly kind: 'trust'; readonly dir?: string }

/** A command-line mistake: the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {
  readonly code = 'GUARDED_USAGE'
  override readonly name = 'UsageError'
}

/** The usage text, printed by --help and after every UsageError. */
export const RUN_USAGE = `usage: guarded-run [options] -- COMMAND [ARGS...]
       guarded-run doctor          can this machine enforce the sandbox? what is missing, and the fix
       guarded-run trust [DIR]     let DIR's .guarded/policy.yaml load (until it changes) [DIR: the current directory]

options:
  --policy FILE        policy file (repeatable, later files take precedence) [the discovered layers:
                       /etc/guarded/policy.yaml, ~/.config/guarded/policy.yaml, a trusted .guarded/policy.yaml;
                       the bundled policy/default.yaml when there are none]
  --requirements FILE  managed requirements bounding every layer [/etc/guarded/requirements.yaml]
  --allow-write PATH   let the agent write PATH too (repeatable; ~/ is HOME, relative is the workspace)
  --deny-read GLOB     make a path or a workspace glob unreadable (repeatable)
  --protect PATH       keep a workspace path read-only (repeatable; a trailing / marks a directory)
  --keep-env NAME      pass a secret-looking environment variable through (repeatable)
  --profile NAME       agent profile (claude, codex, aider, gemini or your own) [detected from COMMAND]
  --proxy URL          use a running proxy, http://SESSION:TOKEN@HOST:PORT, instead of starting one
  --resolve NAME=IP    pin NAME to IP in the in-process proxy instead of asking DNS (repeatable)
  --approver NAME      offer unknown destinations to an approver: api, cli, web, webhook (repeatable)
  --audit-log FILE     the run's audit log [<runtime dir>/runs/SESSION.jsonl]
  --summary            at the end, print "guarded-run: N allowed, M denied, K parked" to stderr
  --quiet              print no warnings
  --no-sandbox         run the agent UNSANDBOXED; only programs that honour HTTP_PROXY use the proxy
  -h, --help           this text

exit status: the agent's (a signal that killed the agent kills guarded-run too); 2 for a usage
mistake; 125 when guarded-run refused or failed to start the agent.
`

const FLAGS = {
  policy: { type: 'string', multiple: true },
  'allow-write': { type: 'string', multiple: true },
  'deny-read': { type: 'string', multiple: true },
  protect: { type: 'string', multiple: true },
  'keep-env': { type: 'string', multiple: true },
  profile: { type: 'string' },
  proxy: { type: 'string' },
  resolve: { type: 'string', multiple: true },
  approver: { type: 'string', multiple: true },
  'audit-log': { type: 'string' },
  requirements: { type: 'string' },
  summary: { type: 'boolean' },
  quiet: { type: 'boolean' },
  'no-sandbox': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

const APPROVERS: readonly HumanApprover[] = ['api', 'cli', 'web', 'webhook']
// These configure the proxy guarded-run starts; a running proxy has its own.
const IN_PROCESS_ONLY = ['policy', 'requirements', 'resolve', 'approver', 'audit-log', 'summary'] as const

/** Parse argv (without node and the script). Throws UsageError. */
export function parseCli(argv: readonly string[]): CliRequest {
  const dashes = argv.indexOf('--')
  const ours = dashes < 0 ? argv : argv.slice(0, dashes)
  if (ours[0] === 'doctor') return parseDoctor(ours.slice(1))
  if (ours[0] === 'trust') return parseTrust(ours.slice(1))
  const { values, positionals } = parse(ours)
  if (values.help === true) return { kind: 'help' }
  if (positionals.length > 0) throw new UsageError(`put the command after --, as in: guarded-run -- ${positionals.join(' ')}`)
  const command = dashes < 0 ? [] : argv.slice(dashes + 1)
  if (command.length === 0) throw new UsageError('nothing to run: give the command after --, as in: guarded-run -- claude')
  return { kind: 'run', flags: Object.freeze(toFlags(values, command)) }
}

/** Parse `--proxy URL`. Throws UsageError. */
export function parseProxyUrl(text: string): ProxyTarget {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError(`--proxy ${text}: expected a URL such as http://SESSION:TOKEN@127.0.0.1:3128`)
  }
  if (url.protocol !== 'http:') throw new UsageError(`--proxy ${text}: only http:// proxies are supported`)
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new UsageError(`--proxy ${text}: a proxy URL has no path, query or fragment`)
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const credentials = url.username === '' ? null : { id: decodeURIComponent(url.username), token: decodeURIComponent(url.password) }
  return Object.freeze({ host, port: url.port === '' ? 80 : Number(url.port), credentials })
}

/** Parse `--resolve NAME=IP` entries into pins keyed by normalised name. Throws UsageError. */
export function parseResolvePins(entries: readonly string[]): Map<string, string[]> {
  const pins = new Map<string, string[]>()
  for (const entry of entries) {
    // Split at the first '=' and keep the rest whole, as `guarded-proxy serve --resolve` does.
    const eq = entry.indexOf('=')
    const host = normalizeHost(eq < 0 ? '' : entry.slice(0, eq))
    const address = normalizeHost(eq < 0 ? '' : entry.slice(eq + 1))
    if (!host.ok || host.kind !== 'name' || !address.ok || address.kind === 'name') {
      throw new UsageError(`--resolve ${entry}: expected NAME=IP, e.g. --resolve origin.test=127.0.0.1`)
    }
    pins.set(host.host, [...(pins.get(host.host) ?? []), address.host])
  }
  return pins
}

type Values = ReturnType<typeof parse>['values']

function parse(args: readonly string[]): { values: Partial<Record<keyof typeof FLAGS, string | boolean | string[]>>; positionals: string[] } {
  try {
    return parseArgs({ args: [...args], options: FLAGS, strict: true, allowPositionals: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

function parseTrust(args: readonly string[]): CliRequest {
  if (args.length > 1 || args[0]?.startsWith('-')) throw new UsageError(`trust takes one optional directory (default: the current one), got: ${args.join(' ')}`)
  return args[0] === undefined ? { kind: 'trust' } : { kind: 'trust', dir: args[0] }
}

function parseDoctor(args: readonly string[]): CliRequest {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) return { kind: 'help' }
  if (args.length > 0) throw new UsageError(`doctor takes no arguments, got: ${args.join(' ')}`)
  return { kind: 'doctor' }
}

function toFlags(values: Values, command: readonly string[]): RunFlags {
  const list = (name: keyof typeof FLAGS): string[] => (values[name] as string[] | undefined) ?? []
  const text = (name: keyof typeof FLAGS): string | undefined => values[name] as string | undefined
  const proxy = text('proxy')
  if (proxy !== undefined) assertNoInProcessFlags(values)
  const profile = text('profile')
  const auditLog = text('audit-log')
  const requirements = text('requirements')
  return {
    command,
    policy: list('policy'),
    allowWrite: list('allow-write'),
    denyRead: list('deny-read'),
    protect: list('protect'),
    keepEnv: list('keep-env'),
    ...(profile !== undefined && { profile }),
    ...(proxy !== undefined && { proxy: parseProxyUrl(proxy) }),
    resolve: parseResolvePins(list('resolve')),
    approvers: parseApprovers(list('approver')),
    ...(auditLog !== undefined && { auditLog }),
    ...(requirements !== undefined && { requirements }),
    summary: values.summary === true,
    quiet: values.quiet === true,
    noSandbox: values['no-sandbox'] === true,
  }
}

function assertNoInProcessFlags(values: Values): void {
  const given = IN_PROCESS_ONLY.filter((name) => values[name] !== undefined)
  if (given.length === 0) return
  throw new UsageError(`--${given.join(', --')} configure${given.length === 1 ? 's' : ''} the proxy guarded-run starts; ` +
    'with --proxy URL the running proxy\'s own settings apply (set them where that proxy is started)')
}

function parseApprovers(names: readonly string[]): HumanApprover[] {
  const bad = names.find((a) => !APPROVERS.includes(a as HumanApprover))
  if (bad !== undefined) throw new UsageError(`--approver ${bad}: expected one of ${APPROVERS.join(', ')}`)
  return names as HumanApprover[]
}
