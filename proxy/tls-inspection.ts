/**
 * The inspection side of the proxy: the CA (loaded only once some rule needs inspection), the leaf cache, the
 * credentials of each loaded policy, the upstream pools, and the HTTP/1.1 server that reads terminated tunnels.
 */
import type { Duplex } from 'node:stream'
import type { CaInfo, LeafCache } from '../certs/index.js'
import { policyNeedsInspection } from '../policy/decide-request.js'
import type { Policy, Rule } from '../policy/types.js'
import { resolveCredentials, type CredentialTable, type ResolvedCredential } from './inject-credentials.js'
import type { Tunnel } from './inspect-request.js'
import type { Limits } from './options.js'
import type { UpstreamPools } from './tls-upstream.js'

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
      // node-forge, the CA and undici load only for a policy that inspects: most proxies never pay for them.
      const heavy = policyNeedsInspection(next) || inspector ? await import('./create-inspector.js') : undefined
      if (heavy && policyNeedsInspection(next)) inspector ??= await heavy.createInspector(options, env, tables)
      tables.set(next, table)
      if (inspector && heavy) heavy.warmLeaves(inspector.leaves, next)
    },
    close: async () => inspector?.close(),
  }
  await inspection.prepare(policy)
  return inspection
}

