/** The proxy's error catalogue: a few flat classes with stable codes. A denial is never an error. */
import type { ReasonCode } from '../policy/reasons.js'

/** Something went wrong while serving a connection; `reason` is what the client is told. */
export class GuardedError extends Error {
  constructor(
    readonly code: string,
    readonly reason: ReasonCode,
    message: string,
  ) {
    super(message)
    this.name = 'GuardedError'
  }
}

/** The client sent something that is not a well-formed proxy request. */
export class BadTargetError extends GuardedError {
  constructor(message: string, reason: ReasonCode = 'bad-request') {
    super('GUARDED_BAD_TARGET', reason, message)
  }
}

/** The destination could not be reached: no address, refused, reset or timed out. */
export class UpstreamError extends GuardedError {
  constructor(code: 'GUARDED_UPSTREAM_UNRESOLVABLE' | 'GUARDED_UPSTREAM_UNREACHABLE' | 'GUARDED_UPSTREAM_TIMEOUT', message: string) {
    const reason = code === 'GUARDED_UPSTREAM_TIMEOUT' ? 'upstream-timeout'
      : code === 'GUARDED_UPSTREAM_UNRESOLVABLE' ? 'upstream-unresolvable' : 'upstream-unreachable'
    super(code, reason, message)
  }
}

/** The operator's configuration is unusable; the process must not start on it. */
export class ConfigError extends Error {
  readonly code = 'GUARDED_BAD_CONFIG'
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** What a thrown value means for the client and the record; unexpected errors are a 502. */
export interface ErrorDescription {
  readonly reason: ReasonCode
  readonly errorType: string
  readonly detail?: string
  readonly upstream: boolean
}

/** Describes any thrown value; the message of an unexpected error is not shown to the client. */
export function describeError(err: unknown): ErrorDescription {
  if (err instanceof GuardedError) {
    return { reason: err.reason, errorType: err.code, detail: err.message, upstream: err.reason.startsWith('upstream') }
  }
  return { reason: 'upstream-unreachable', errorType: err instanceof Error ? err.name : 'Error', upstream: true }
}
