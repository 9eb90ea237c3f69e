/** Builds the inspector: loads the CA, the leaf cache and the upstream pools. Imported only when a rule needs inspection. */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { defaultCaDir, LeafCache, loadCa } from '../certs/index.js'
import { ruleNeedsInspection } from '../policy/decide-request.js'
import type { Policy } from '../policy/types.js'
import { ConfigError } from './errors.js'
import type { CredentialTable } from './inject-credentials.js'
import { inspectRequest, type Tunnel } from './inspect-request.js'
import type { Limits } from './options.js'
import { renderRefusal, writeRefusalToSocket } from './refuse.js'
import type { Inspector, InspectionOptions } from './tls-inspection.js'
import { createUpstreamPools } from './tls-upstream.js'

/** Loads the CA (refusing a key others can read) and returns a ready inspector. */
export async function createInspector(options: InspectionOptions, env: NodeJS.ProcessEnv, tables: WeakMap<Policy, CredentialTable>): Promise<Inspector & { close(): Promise<void> }> {
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
export function warmLeaves(leaves: LeafCache, policy: Policy): void {
  for (const rule of policy.rules) {
    if (!ruleNeedsInspection(rule) || rule.host.kind !== 'exact') continue
    leaves.get(rule.host.host, 'name').catch(() => undefined)
  }
}
