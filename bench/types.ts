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

/** Approval figures (issue 3): decision-to-first-byte times and the memory of parked requests. */
export interface ApprovalFigures {
  /** Requests parked and settled one at a time before the recorded ones, and not recorded. */
  readonly warmup: number
  /** Requests parked and settled one at a time, recorded. */
  readonly settled: number
  /** From sending the allow to the parked client's first response byte. */
  readonly p50Ms: number
  readonly p99Ms: number
  /** CONNECTs parked at once for the memory figure, and RSS bytes per parked CONNECT. */
  readonly parked: number
  readonly bytesPerParked: number
}

/** Sink overhead figures (issue 4): the plain-HTTP phase with the sinks off and on. */
export interface SinkFigures {
  /** Metrics only (always on): no audit log, no OTLP endpoint. */
  readonly off: PhaseResult
  /** Audit log, OTLP spans and metrics. */
  readonly on: PhaseResult
  /** As `on`, with spans sampled (`OTEL_TRACES_SAMPLER=traceidratio`) at `sampledShare`. */
  readonly sampled: PhaseResult
  readonly sampledShare: number
  /** What the sampled side's collector took, against `otlpBytes`: the share it kept. */
  readonly sampledOtlpBytes: number
  /** What the sinks wrote while on: audit log bytes (rotated files included), OTLP exports and bytes. */
  readonly auditBytes: number
  readonly otlpPosts: number
  readonly otlpBytes: number
}

/** Median and 90th percentile of a few timed runs, in ms. */
export interface Spread {
  readonly median: number
  readonly p90: number
}

/** guarded-run start-up figures (issue 5). */
export interface StartupFigures {
  /** Runs of each command. */
  readonly runs: number
  readonly true: Spread
  /** `node -e 0`: Node's own boot, for reference. */
  readonly node: Spread
  /** `guarded-run --policy P -- true`. */
  readonly guarded: Spread
  /** The line GUARDED_RUN_TIMINGS=1 printed, as guarded-run wrote it. */
  readonly breakdown?: string
  /** A build-like burst of small files in the workspace: median ms directly and under guarded-run. */
  readonly workload: { readonly files: number; readonly directMs: number; readonly guardedMs: number }
}
