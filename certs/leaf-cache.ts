import { createSecureContext, type SecureContext } from 'node:tls'
import { CertError } from './errors.js'
import type { Ca } from './load-ca.js'
import { mintLeaf, type HostKind, type LeafCert } from './mint-leaf.js'

/** How the leaf cache is bounded. */
export interface LeafCacheOptions {
  /** Most hosts kept; the least recently used goes first. Default 1000. */
  readonly max?: number
  /** Milliseconds since the epoch; tests inject a fake one. Default `Date.now`. */
  readonly clock?: () => number
  /** Re-mint this long before a leaf expires, so no handshake is served one about to lapse. Default 1 hour. */
  readonly renewBeforeMs?: number
}

/** A minted leaf plus a TLS context built from it once, ready for `new TLSSocket(..., { secureContext })`. */
export interface Leaf extends LeafCert {
  readonly context: SecureContext
}

interface Entry {
  readonly promise: Promise<Leaf>
  /** When to stop handing this leaf out; infinite while the mint is in flight. */
  renewAt: number
}

/** Leaf certificates per host: minted on first contact, shared by concurrent first contacts, bounded LRU with expiry. */
export class LeafCache {
  readonly #ca: Ca
  readonly #max: number
  readonly #clock: () => number
  readonly #renewBeforeMs: number
  // A Map iterates in insertion order; re-inserting on every hit makes the first key the least recently used.
  readonly #entries = new Map<string, Entry>()
  #mints = 0

  constructor(ca: Ca, options: LeafCacheOptions = {}) {
    this.#ca = ca
    this.#max = checkMax(options.max ?? 1000)
    this.#clock = options.clock ?? Date.now
    this.#renewBeforeMs = options.renewBeforeMs ?? 60 * 60 * 1000
  }

  /** Hosts currently cached, minted or in flight. */
  get size(): number {
    return this.#entries.size
  }

  /** Leaves minted since start; with `size`, what a metrics exporter needs. */
  get mints(): number {
    return this.#mints
  }

  /** The leaf for a normalised host, minting it on first contact or when it nears expiry. */
  get(host: string, kind: HostKind): Promise<Leaf> {
    const key = `${kind} ${host}`
    const entry = this.#entries.get(key)
    if (entry && this.#clock() < entry.renewAt) {
      this.#entries.delete(key)
      this.#entries.set(key, entry)
      return entry.promise
    }
    this.#entries.delete(key)
    return this.#mint(key, host, kind)
  }

  #mint(key: string, host: string, kind: HostKind): Promise<Leaf> {
    this.#mints++
    const mintedAt = this.#clock()
    const promise = mintLeaf(this.#ca, host, kind, new Date(mintedAt)).then(withContext)
    const entry: Entry = { promise, renewAt: Infinity }
    this.#entries.set(key, entry)
    this.#evictOverflow()
    promise.then(
      (leaf) => { entry.renewAt = this.#renewAt(mintedAt, leaf.notAfter.getTime()) },
      // A failed mint must not be cached: the next contact tries again.
      () => { if (this.#entries.get(key) === entry) this.#entries.delete(key) },
    )
    return promise
  }

  // Near the CA's own expiry leaves are short; renewing an hour early would then mean re-minting on every get.
  #renewAt(mintedAt: number, notAfter: number): number {
    return notAfter - Math.min(this.#renewBeforeMs, (notAfter - mintedAt) / 2)
  }

  #evictOverflow(): void {
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#max) return
      this.#entries.delete(key)
    }
  }
}

// Building a context costs ~1.5 ms (OpenSSL 3 key decoding), so it is made once per leaf, here. `ca: []` skips
// loading the root store: a server context never verifies a peer.
function withContext(leaf: LeafCert): Leaf {
  return Object.freeze({ ...leaf, context: createSecureContext({ cert: leaf.cert, key: leaf.key, ca: [] }) })
}

function checkMax(max: number): number {
  if (Number.isInteger(max) && max >= 1) return max
  throw new CertError('GUARDED_CA_BAD_OPTIONS', `leaf cache size must be a whole number of at least 1, got ${max}`)
}
