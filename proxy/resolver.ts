/** Name resolution for allowed destinations only; `--resolve NAME=IP` pins win over the system resolver. */
import { lookup as systemLookup } from 'node:dns/promises'
import { UpstreamError } from './errors.js'

/**
 * Resolves a normalised name to addresses; injected so tests and pins never touch real DNS. A pinned
 * name answers at once, without a promise: most connections of a busy proxy need no lookup.
 */
export interface Resolver {
  resolve(host: string): readonly string[] | Promise<readonly string[]>
}

/** The shape of `dns.promises.lookup` with `{ all: true }` that we rely on. */
export type Lookup = (host: string, options: { all: true; verbatim: true }) => Promise<{ address: string; family: number }[]>

/** How long one lookup may take before the request fails with upstream-unresolvable. */
const LOOKUP_TIMEOUT_MS = 5_000

/** Builds a resolver from pins (already-normalised names) and a lookup function. */
export function createResolver(pins: ReadonlyMap<string, readonly string[]>, lookup: Lookup = systemLookup as Lookup): Resolver {
  return {
    resolve(host) {
      return pins.get(host) ?? withTimeout(lookupAll(lookup, host), LOOKUP_TIMEOUT_MS, host)
    },
  }
}

async function lookupAll(lookup: Lookup, host: string): Promise<readonly string[]> {
  try {
    const answers = await lookup(host, { all: true, verbatim: true })
    if (answers.length === 0) throw new Error('no addresses')
    return answers.map((a) => a.address)
  } catch (err) {
    throw new UpstreamError('GUARDED_UPSTREAM_UNRESOLVABLE', `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, host: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UpstreamError('GUARDED_UPSTREAM_UNRESOLVABLE', `resolving ${host} took longer than ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
