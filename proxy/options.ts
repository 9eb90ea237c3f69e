/** The proxy's options: one typed object with defaults, validated at start-up, then frozen. */
import { ConfigError } from './errors.js'
import type { AuditLogOptions } from './sinks/audit-log.js'
import type { ApprovalConfig } from '../policy/approval-config.js'


/** Resource limits that keep one client from holding the proxy. */
export interface Limits {
  /** Open client connections at most; past it new ones get a 503 `too-many-connections`. */
  readonly maxConnections: number
  /** Largest request head in bytes (request line plus headers); larger is a 431. */
  readonly maxHeaderBytes: number
  /** A client must finish its request head within this time (slowloris cannot hold a socket). */
  readonly headersTimeoutMs: number
  /** An idle kept-alive client connection is closed after this. */
  readonly keepAliveTimeoutMs: number
  /** A tunnel or forwarded request with no bytes either way for this long is torn down. */
  readonly idleTimeoutMs: number
  /** Connecting to an upstream may take this long before a 504. */
  readonly connectTimeoutMs: number
  /** On SIGTERM, in-flight connections get this long to finish before they are cut. */
  readonly drainTimeoutMs: number
  /** While the audit log is behind, a new connection waits this long for room before a 503. */
  readonly auditWaitMs: number
}

/** Defaults sized for one proxy serving a handful of agents on a developer machine or in a pod. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxConnections: 4096,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 300_000,
  connectTimeoutMs: 10_000,
  drainTimeoutMs: 30_000,
  auditWaitMs: 2_000,
})

/** Where a listener binds: TCP host and port (0 picks a free one), or a Unix socket path. */
export type ListenAddress = { readonly host: string; readonly port: number } | { readonly path: string }

/** Everything `serve` needs. */
export interface ServeOptions {
  /** Policy files, loaded exactly as given, in precedence order. */
  readonly policyFiles: readonly string[]
  /** Proxy listeners. */
  readonly listen: readonly ListenAddress[]
  /** The admin listener (health now; metrics and the approval API later). */
  readonly admin: ListenAddress
  /** `--resolve NAME=IP` pins, keyed by normalised name. */
  readonly resolve: ReadonlyMap<string, readonly string[]>
  /** Session of unauthenticated clients when `auth` is `none`. */
  readonly sessionId: string
  /** `required`: every client must send session credentials (or use a session's own listener). */
  readonly auth: 'required' | 'none'
  /** File holding the admin API token; when absent one is generated and its path printed. */
  readonly adminTokenFile?: string
  /** OTLP/HTTP endpoint for spans; otherwise the standard OTEL_EXPORTER_OTLP_* variables decide. */
  readonly otlpEndpoint?: string
  /** A separate listener for `/metrics` only (for a Service and Prometheus), besides the admin one. */
  readonly metricsListen?: ListenAddress
  /** The JSON Lines audit log, when one is wanted. */
  readonly audit?: AuditLogOptions
  /** Approval settings from the command line; they override the policy's `approval:` section. */
  readonly approval?: Partial<ApprovalConfig>
  /** Where `always` decisions are kept (a policy overlay loaded above the policy files). */
  readonly decisionsFile?: string
  /** Managed requirements (`--requirements`); else `/etc/guarded/requirements.yaml` when it exists. */
  readonly requirementsFile?: string
  /** `--allow` / `--block` patterns: the command-line layer, above every file, below the requirements. */
  readonly allow?: readonly string[]
  readonly block?: readonly string[]
  /** `--mode audit|enforce`, over the files' `mode:` (requirements may forbid audit). */
  readonly mode?: 'enforce' | 'audit'
  /** Policy files a launcher adds for one run (cli layer), loaded after the discovered or --policy files. */
  readonly policyOverlays?: readonly string[]
  /** Reload when a policy file changes (`serve` does; embedded proxies opt in). */
  readonly watchPolicy?: boolean
  /** The inspection CA's directory (`--ca-dir`); default `$XDG_CONFIG_HOME/guarded/ca`. Read only when a rule needs inspection. */
  readonly caDir?: string
  /** Extra PEM CAs trusted for upstream certificates of inspected hosts (`--upstream-ca`), besides the public roots. */
  readonly upstreamCaFile?: string
  readonly limits: Limits
}

/** Parses `HOST:PORT`, `[V6]:PORT` or `unix:/path`. */
export function parseListenAddress(text: string, flag: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice(5)
    if (!path.startsWith('/')) throw new ConfigError(`${flag} ${text}: a Unix socket path must be absolute (unix:/run/guarded/proxy.sock)`)
    return { path }
  }
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (!match || port > 65535) throw new ConfigError(`${flag} ${text}: expected HOST:PORT (port 0 picks a free one), [IPv6]:PORT or unix:/path`)
  return { host: match[1] ?? match[2] ?? '', port }
}

/** Validates and freezes the options; every problem is a ConfigError that names the flag. */
export function validateOptions(options: ServeOptions): ServeOptions {
  // No --policy means the discovered layers (system, user, trusted project); none at all fails at load.
  if (options.listen.length === 0) throw new ConfigError('serve needs at least one --listen HOST:PORT')
  for (const [name, value] of Object.entries(options.limits)) {
    if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`limit ${name} must be a positive integer, got ${value}`)
  }
  return Object.freeze({ ...options, limits: Object.freeze({ ...options.limits }) })
}
