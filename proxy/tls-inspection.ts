/**
 * The inspection side of the proxy: the CA (loaded only once some rule needs inspection), the leaf cache, the
 * credentials of each loaded policy, the upstream pools, and the HTTP/1.1 server that reads terminated tunnels.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { defaultCaDir, LeafCache, loadCa, type CaInfo } from '../certs/index.js'
import { policyNeedsInspection, ruleNeedsInspection } from '../policy/decide-request.js'
import type { Policy, Rule } from '../policy/types.js'
import { ConfigError } from './errors.js'
import { resolveCredentials, type CredentialTable, type ResolvedCredential } from './inject-credentials.js'
import { inspectRequest, type Tunnel } from './inspect-request.js'
import type { Limits } from './options.js'
import { renderRefusal, writeRefusalToSocket } from './refuse.js'
import { createUpstreamPools, type UpstreamPools } from './tls-upstream.js'

/** What `serve` passes: where the CA is, what else to trust upstream, and the limits. */
export interface InspectionOptions {
  /** The CA directory (`--ca-dir`); default `defaultCaDir(env)`. */
  readonly caDir?: string
  /** PEM bundle trusted for upstream certificates besides the public roots (`--upstream-ca`). */
  readonly upstreamCaFile?: string
  readonly limits: Limits
}

/** A loaded CA and everything that serves terminated tunnels. */
export interface Inspector {
  readonly ca: CaInfo
  readonly leaves: LeafCache
  readonly upstream: UpstreamPools
  /** The resolved credential of the rule that admitted a request, if it carries one. */
  credential(policy: Policy, rule: Rule | undefined): ResolvedCredential | undefined
  /** Reads HTTP/1.1 requests from a terminated tunnel until it closes. */
  serve(socket: Duplex, tunnel: Tunnel): void
}

/** The inspection state across policy reloads. */
export interface Inspection {
  /** The inspector, once a policy needed one. */
  current(): Inspector | undefined
  /** Makes `policy` servable: loads the CA if it is the first to need one, resolves its credentials. Throws on failure. */
  prepare(policy: Policy): Promise<void>
  close(): Promise<void>
}

/** Prepares the first policy; the CA is not touched unless a rule needs inspection. */
export async function startInspection(policy: Policy, options: InspectionOptions, env: NodeJS.ProcessEnv): Promise<Inspection> {
  let inspector: (Inspector & { close(): Promise<void> }) | undefined
  const tables = new WeakMap<Policy, CredentialTable>()
  const inspection: Inspection = {
    current: () => inspector,
    async prepare(next) {
      const table = await resolveCredentials(next, { env })
      if (policyNeedsInspection(next)) inspector ??= await createInspector(options, env, tables)
      tables.set(next, table)
      if (inspector) warmLeaves(inspector.leaves, next)
    },
    close: async () => inspector?.close(),
  }
  await inspection.prepare(policy)
  return inspection
}

async function createInspector(options: InspectionOptions, env: NodeJS.ProcessEnv, tables: WeakMap<Policy, CredentialTable>): Promise<Inspector & { close(): Promise<void> }> {
  const ca = await loadCa(options.caDir ?? defaultCaDir(env))
  const extraCa = options.upstreamCaFile === undefined ? undefined : await readUpstreamCa(options.upstreamCaFile)
  const upstream = createUpstreamPools({ ...(extraCa && { extraCa }), connectTimeoutMs: options.limits.connectTimeoutMs, idleMs: options.limits.idleTimeoutMs })
  const tunnels = new WeakMap<object, Tunnel>()
  const self: Inspector & { close(): Promise<void> } = {
    ca: ca.info,
    leaves: new LeafCache(ca),
    upstream,
    credential: (policy, rule) => (rule ? tables.get(policy)?.get(rule) : undefined),
    serve(socket, tunnel) {
      tunnels.set(socket, tunnel)
      server.emit('connection', socket)
    },
    close: () => upstream.close(),
  }
  const server = requestServer(options.limits, (req, res) => {
    const tunnel = tunnels.get(req.socket)
    if (tunnel) void inspectRequest(req, res, tunnel, self)
    else res.destroy()
  })
  return self
}

/** An HTTP/1.1 server that never listens: terminated tunnels are handed to it one by one. */
function requestServer(limits: Limits, handle: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer({ maxHeaderSize: limits.maxHeaderBytes, headersTimeout: limits.headersTimeoutMs, requestTimeout: 0, keepAliveTimeout: limits.keepAliveTimeoutMs, noDelay: true })
  server.on('request', handle)
  server.on('checkContinue', handle) // the 100 goes out only once the request is admitted
  const refuse = (detail: string) => (_req: IncomingMessage, socket: Duplex): void => writeRefusalToSocket(socket, renderRefusal('unsupported-protocol', { detail }))
  server.on('upgrade', refuse('upgrades (WebSocket) inside an inspected tunnel are not supported yet'))
  server.on('connect', refuse('CONNECT inside an inspected tunnel is refused'))
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => writeRefusalToSocket(socket, renderRefusal('bad-request', { detail: `the request could not be parsed (${err.code ?? 'error'})` })))
  return server
}

async function readUpstreamCa(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`--upstream-ca ${file}: cannot read it (${err.code ?? err.message})`)
  })
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`--upstream-ca ${file}: expected PEM certificates`)
  return text
}

/** Mints leaves for the exact hosts of inspecting rules now, so their first connection does not wait for a signature. */
function warmLeaves(leaves: LeafCache, policy: Policy): void {
  for (const rule of policy.rules) {
    if (!ruleNeedsInspection(rule) || rule.host.kind !== 'exact') continue
    leaves.get(rule.host.host, 'name').catch(() => undefined)
  }
}
