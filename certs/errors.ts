/** Stable codes for everything that can go wrong while making, loading or using the CA. */
export type CertErrorCode =
  | 'GUARDED_CA_EXISTS'
  | 'GUARDED_CA_MISSING'
  | 'GUARDED_CA_INVALID'
  | 'GUARDED_CA_EXPIRED'
  | 'GUARDED_CA_KEY_PERMISSIONS'
  | 'GUARDED_CA_KEY_MISMATCH'
  | 'GUARDED_CA_UNSUPPORTED_KEY'
  | 'GUARDED_CA_BAD_OPTIONS'
  | 'GUARDED_CA_NO_HOME'
  | 'GUARDED_LEAF_BAD_HOST'

/** The one error class of `certs/`; the message always says what to do about it. */
export class CertError extends Error {
  override readonly name = 'CertError'

  constructor(
    readonly code: CertErrorCode,
    message: string,
  ) {
    super(message)
  }
}
