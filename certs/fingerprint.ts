import { X509Certificate } from 'node:crypto'

/** SHA-256 over the DER certificate in upper-case colon hex, exactly as `openssl x509 -fingerprint -sha256` prints it. */
export function fingerprint(cert: string | Buffer): string {
  return new X509Certificate(cert).fingerprint256
}
