/** `guarded-proxy serve`: parse flags, start the proxy, print where it listens, handle signals. */
import { parseArgs } from 'node:util'
import { normalizeHost } from '../policy/normalize-host.js'
import { parseDuration } from '../policy/parse-duration.js'
import { ConfigError } from './errors.js'
import { createLogger } from './logger.js'
import { DEFAULT_LIMITS, parseListenAddress, validateOptions, type Limits, type ServeOptions } from './options.js'
import { startProxy } from './start-proxy.js'
import { discoverLayers } from './policy-files/discover-layers.js'
import { defaultRoots } from './policy-files/policy-roots.js'
import type { AuditLogOptions } from './sinks/audit-log.js'
import type { ApprovalConfig, HumanApprover } from '../policy/approval-config.js'

export const SERVE_USAGE = `usage: guarded-proxy serve --policy FILE [options]

  --policy FILE          policy file (repeatable, later files take precedence); without it, the layers
                         /etc/guarded/policy.yaml, ~/.config/guarded/policy.yaml, a trusted .guarded/policy.yaml
  --requirements FILE    managed requirements bounding every layer [/etc/guarded/requirements.yaml if present]
  --allow PATTERN        allow a host (repeatable; the command-line layer, above every file)
  --block PATTERN        block a host (repeatable)
  --mode MODE            enforce, or audit: refuse nothing but unsafe addresses, record what enforce would do
  --no-watch             reload on SIGHUP only, not when a policy file changes
  --listen HOST:PORT     proxy listener (repeatable; port 0 picks one; unix:/path for a socket) [127.0.0.1:3128]
  --admin HOST:PORT      admin listener: /healthz, /readyz [127.0.0.1:3129]
  --resolve NAME=IP      pin NAME to IP instead of asking DNS (repeatable)
  --session-id ID        session of clients that send no credentials (with --auth none) [default]
  --auth MODE            required: clients must use http://SESSION_ID:TOKEN@HOST:PORT; none [none]
  --admin-token-file F   admin API token (else one is generated 0600 and its path printed)
  --approver NAME        offer unknown destinations to this approver: api, cli, web, webhook (repeatable)
  --approval-timeout DUR refuse a parked request when no one decided in time [60s]
  --decisions FILE       keep approvals made with scope "always" here (a policy overlay)
  --ca-dir DIR           inspection CA (guarded-proxy ca init); read only if a rule inspects [$XDG_CONFIG_HOME/guarded/ca]
  --upstream-ca FILE     PEM CAs trusted for inspected upstreams besides the public roots
  --metrics HOST:PORT    a separate listener serving only /metrics (the admin listener serves it too)
  --otlp-endpoint URL    export spans over OTLP/HTTP (else OTEL_EXPORTER_OTLP_ENDPOINT)
  --audit-log FILE       JSON Lines audit log (- for stdout), reopened on SIGHUP
  --audit-max-bytes N    rotate the audit log past this size, 0 never [104857600]
  --audit-keep N         rotated audit files kept [5]
  --max-connections N    open client connections at most [${DEFAULT_LIMITS.maxConnections}]
  --idle-timeout DUR     close tunnels idle this long, e.g. 5m [${DEFAULT_LIMITS.idleTimeoutMs / 1000}s]
  --connect-timeout DUR  upstream connect timeout [${DEFAULT_LIMITS.connectTimeoutMs / 1000}s]
  --drain-timeout DUR    on SIGTERM, wait this long for connections to finish [${DEFAULT_LIMITS.drainTimeoutMs / 1000}s]

signals: SIGHUP reloads the policy, as does a change to any policy file (a bad file keeps the old one);
         SIGTERM and SIGINT drain, then exit.
`

const FLAGS = {
  policy: { type: 'string', multiple: true },
  requirements: { type: 'string' },
  allow: { type: 'string', multiple: true },
  block: { type: 'string', multiple: true },
  mode: { type: 'string' },
  'no-watch': { type: 'boolean' },
  listen: { type: 'string', multiple: true },
  admin: { type: 'string' },
  resolve: { type: 'string', multiple: true },
  'session-id': { type: 'string' },
  auth: { type: 'string' },
  'admin-token-file': { type: 'string' },
  'max-connections': { type: 'string' },
  'audit-log': { type: 'string' },
  metrics: { type: 'string' },
  'otlp-endpoint': { type: 'string' },
  approver: { type: 'string', multiple: true },
  'approval-timeout': { type: 'string' },
  decisions: { type: 'string' },
  'ca-dir': { type: 'string' },
  'upstream-ca': { type: 'string' },
  'audit-max-bytes': { type: 'string' },
  'audit-keep': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Parses `serve` flags into validated options; every mistake is a ConfigError naming the flag. */
export function parseServeArgs(args: readonly string[]): ServeOptions | 'help' {
  const { values } = parseArgs({ args: [...args], options: FLAGS, strict: true, allowPositionals: false })
  if (values.help) return 'help'
  return validateOptions({
    policyFiles: values.policy ?? [],
    ...(values.requirements !== undefined && { requirementsFile: values.requirements }),
    ...(values.allow && { allow: values.allow }),
    ...(values.block && { block: values.block }),
    ...(values.mode !== undefined && { mode: parseMode(values.mode) }),
    watchPolicy: values['no-watch'] !== true,
    listen: (values.listen ?? ['127.0.0.1:3128']).map((l) => parseListenAddress(l, '--listen')),
    admin: parseListenAddress(values.admin ?? '127.0.0.1:3129', '--admin'),
    resolve: parsePins(values.resolve ?? []),
    sessionId: values['session-id'] ?? 'default',
    auth: parseAuth(values.auth),
    ...(values['admin-token-file'] !== undefined && { adminTokenFile: values['admin-token-file'] }),
    limits: parseLimits(values),
    ...(values['audit-log'] !== undefined && { audit: parseAudit(values) }),
    ...(values.decisions !== undefined && { decisionsFile: values.decisions }),
    ...(values['ca-dir'] !== undefined && { caDir: values['ca-dir'] }),
    ...(values['upstream-ca'] !== undefined && { upstreamCaFile: values['upstream-ca'] }),
    ...(values.metrics !== undefined && { metricsListen: parseListenAddress(values.metrics, '--metrics') }),
    ...(values['otlp-endpoint'] !== undefined && { otlpEndpoint: values['otlp-endpoint'] }),
    approval: parseApproval(values.approver, values['approval-timeout']),
  })
}

function parseAudit(values: Record<string, string | boolean | string[] | undefined>): AuditLogOptions {
  const count = (flag: string, fallback: number): number => {
    const text = values[flag]
    if (typeof text !== 'string') return fallback
    if (!/^\d{1,12}$/.test(text)) throw new ConfigError(`--${flag} ${text}: expected a whole number`)
    return Number(text)
  }
  return {
    path: String(values['audit-log']),
    maxBytes: count('audit-max-bytes', 100 * 1024 * 1024),
    keep: count('audit-keep', 5),
    bufferRecords: 10_000,
    onFull: 'block',
    redactPromptText: false,
  }
}

const APPROVERS: readonly HumanApprover[] = ['api', 'cli', 'web', 'webhook']

function parseApproval(approvers: string[] | undefined, timeout: string | undefined): Partial<ApprovalConfig> {
  const config: { approvers?: HumanApprover[]; timeoutMs?: number } = {}
  if (approvers) {
    const bad = approvers.find((a) => !APPROVERS.includes(a as HumanApprover))
    if (bad !== undefined) throw new ConfigError(`--approver ${bad}: expected one of ${APPROVERS.join(', ')}`)
    config.approvers = approvers as HumanApprover[]
  }
  if (timeout !== undefined) {
    const ms = parseDuration(timeout)
    if (ms === undefined) throw new ConfigError(`--approval-timeout ${timeout}: write a duration such as 30s or 2m`)
    config.timeoutMs = ms
  }
  return config
}

function parseMode(value: string): 'enforce' | 'audit' {
  if (value === 'enforce' || value === 'audit') return value
  throw new ConfigError(`--mode ${value}: expected enforce or audit`)
}

function parseAuth(value: string | undefined): 'required' | 'none' {
  if (value === undefined || value === 'none') return 'none'
  if (value === 'required') return 'required'
  throw new ConfigError(`--auth ${value}: expected required or none`)
}

function parsePins(entries: readonly string[]): Map<string, string[]> {
  const pins = new Map<string, string[]>()
  for (const entry of entries) {
    // Split at the first '=' and keep the rest whole: split('=', 2) would silently drop `=junk`.
    const eq = entry.indexOf('=')
    const [name, ip] = eq < 0 ? ['', ''] : [entry.slice(0, eq), entry.slice(eq + 1)]
    const host = normalizeHost(name)
    const address = normalizeHost(ip)
    if (!host.ok || host.kind !== 'name' || !address.ok || address.kind === 'name') {
      throw new ConfigError(`--resolve ${entry}: expected NAME=IP, e.g. --resolve origin.test=127.0.0.1`)
    }
    pins.set(host.host, [...(pins.get(host.host) ?? []), address.host])
  }
  return pins
}

function parseLimits(values: Record<string, string | boolean | string[] | undefined>): Limits {
  const duration = (flag: string, fallback: number): number => {
    const text = values[flag]
    if (typeof text !== 'string') return fallback
    const ms = parseDuration(text)
    if (ms === undefined) throw new ConfigError(`--${flag} ${text}: write a duration such as 500ms, 30s, 5m`)
    return ms
  }
  const max = values['max-connections']
  return {
    ...DEFAULT_LIMITS,
    maxConnections: typeof max === 'string' ? Number(max) : DEFAULT_LIMITS.maxConnections,
    idleTimeoutMs: duration('idle-timeout', DEFAULT_LIMITS.idleTimeoutMs),
    connectTimeoutMs: duration('connect-timeout', DEFAULT_LIMITS.connectTimeoutMs),
    drainTimeoutMs: duration('drain-timeout', DEFAULT_LIMITS.drainTimeoutMs),
  }
}

/** Without --policy the proxy uses the discovered layers; none at all is a usage mistake, not a start-up failure. */
async function noPolicyAnywhere(options: ServeOptions): Promise<boolean> {
  if (options.policyFiles.length > 0 || (options.allow?.length ?? 0) > 0) return false
  const layers = await discoverLayers({ explicit: [], ...(options.requirementsFile !== undefined && { requirementsFile: options.requirementsFile }) }, defaultRoots()).catch(() => undefined)
  return layers !== undefined && layers.files.length === 0
}

/** Runs the proxy until a signal stops it; resolves with the exit status. */
export async function serveCommand(args: readonly string[]): Promise<number> {
  let options: ServeOptions | 'help'
  try {
    options = parseServeArgs(args)
  } catch (err) {
    process.stderr.write(`guarded-proxy serve: ${(err as Error).message}\n\n${SERVE_USAGE}`)
    return 2
  }
  if (options === 'help') return void process.stdout.write(SERVE_USAGE), 0
  if (await noPolicyAnywhere(options)) {
    process.stderr.write(`guarded-proxy serve: no policy: pass --policy FILE (try policy/default.yaml), or create /etc/guarded/policy.yaml, ~/.config/guarded/policy.yaml or a trusted .guarded/policy.yaml\n\n${SERVE_USAGE}`)
    return 2
  }
  const logger = createLogger()
  const proxy = await startProxy(options, { logger }).catch((err: Error) => {
    process.stderr.write(`guarded-proxy serve: ${err.message}\n`)
    return undefined
  })
  if (!proxy) return 1
  for (const l of proxy.listeners) process.stdout.write(`guarded-proxy listening on ${l.url}\n`)
  process.stdout.write(`guarded-proxy admin on ${proxy.admin.url}\n`)
  if (proxy.metrics) process.stdout.write(`guarded-proxy metrics on ${proxy.metrics.url}\n`)
  process.stdout.write(`guarded-proxy admin token in ${proxy.adminToken.file}\n`)
  if (proxy.approvalConfig().approvers.includes('web')) process.stdout.write(`guarded-proxy approver page on ${proxy.admin.url}/approvals (sign in with the admin token)\n`)
  const ca = proxy.inspection.current()?.ca
  if (ca) process.stdout.write(inspectionBanner(ca))
  // Nobody waits on serve's start-up, but the first plain-HTTP request would wait for undici to load.
  void proxy.warm().catch((err: Error) => logger.error({ error: err.message }, 'loading the HTTP client failed'))
  process.on('SIGHUP', () => {
    void proxy.reopenLogs().catch((err: Error) => logger.error({ error: err.message }, 'reopening the audit log failed'))
    void proxy.reload() // the policy service logs the result, as it does for a file change
  })
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'draining')
      void proxy.close().then(() => resolve(0))
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}

/** Where the inspection CA is and how clients come to trust it: printed once, when a rule inspects. */
function inspectionBanner(ca: { paths: { cert: string; dir: string }; fingerprint: string }): string {
  return [
    `guarded-proxy inspecting TLS with the CA in ${ca.paths.cert} (SHA-256 ${ca.fingerprint})`,
    `  clients must trust it: NODE_EXTRA_CA_CERTS=${ca.paths.cert}, curl --cacert, GIT_SSL_CAINFO; guarded-proxy ca show --dir ${ca.paths.dir} for more`,
    '',
  ].join('\n')
}
