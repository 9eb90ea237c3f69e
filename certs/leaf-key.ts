import { generateKeyPairSync, type KeyObject } from 'node:crypto'

/** The one key pair every leaf shares; it lives only in memory and dies with the process. */
export interface LeafKey {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** PKCS#8 PEM, what `tls.createSecureContext` takes. */
  readonly pem: string
}

/** Makes the shared leaf key: EC P-256, because it is generated in ~1 ms and signs handshakes far faster than RSA. */
export function createLeafKey(): LeafKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  return Object.freeze({ privateKey, publicKey, pem })
}
