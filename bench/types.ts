/** Shared shapes of the bench: what is measured, and what it is measured through. */

/** Which path the load takes: straight to the origin, through our proxy, or through Squid. */
export type Via = 'direct' | 'guarded' | 'squid'

/** The two loopback listeners of the C origin (see origin.c). */
export interface Origin {
  /** Download / ping / idle TCP server: the CONNECT target. */
  readonly tcpPort: number
  /** HTTP/1.1 keep-alive responder: the plain-HTTP target. */
  readonly httpPort: number
  stop(): Promise<void>
}

/** A running proxy child pinned to the proxy core. */
export interface ProxyUnderTest {
  readonly via: Exclude<Via, 'direct'>
  readonly port: number
  /** Root of the process tree whose RSS and CPU time are charged to the proxy. */
  readonly pid: number
  stop(): Promise<void>
}

/** Paths of the compiled C tools. */
export interface Tools {
  readonly loadgen: string
  readonly origin: string
}

/** The figures of one load phase. */
export interface PhaseResult {
  readonly value: number
  readonly errors: number
  readonly firstError: string
  /** The proxy tree's CPU time over the phase, as a share of one core (0..1). */
  readonly proxyCpu?: number
  /** How busy the proxy core was over the phase, whoever used it: busy minus proxyCpu is other load. */
  readonly coreBusy: number
  /** HTTP only: connections the proxy closed between keep-alive requests. */
  readonly reconnects?: number
}

/** All load figures for one path. */
export interface LoadFigures {
  readonly tunnelMBps: PhaseResult
  readonly connectPerS: PhaseResult & { readonly p50us: number; readonly p99us: number }
  readonly httpPerS: PhaseResult
  /** Bytes of proxy RSS per idle tunnel; absent for direct, where there is no proxy. */
  readonly idleBytesPerTunnel?: number
}

/** Classification timings for one policy size. */
export interface ClassifyFigures {
  readonly rules: number
  readonly medianNs: number
  readonly p99Ns: number
  readonly loadMs: number
}
