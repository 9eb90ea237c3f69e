import { createPrivateKey, type KeyObject, type X509Certificate } from 'node:crypto'
import { open } from 'node:fs/promises'
import type forge from 'node-forge'
import { signatureAlgorithm } from './build-certificate.js'
import { caPaths, type CaPaths } from './ca-dir.js'
import { caInfo, missingOr, parseCertificate, readCaFile, type CaInfo } from './ca-info.js'
import { certificateParts } from './certificate-parts.js'
import { CertError } from './errors.js'
import { createLeafKey, type LeafKey } from './leaf-key.js'

/** A loaded, checked CA, ready to mint leaves. */
export interface Ca {
  readonly info: CaInfo
  readonly key: KeyObject
  /** The CA's encoded subject Name; leaves copy it as their issuer. */
  readonly subject: forge.asn1.Asn1
  /** The CA's subject key identifier, copied into leaves' AKI; absent if the CA has none. */
  readonly keyId: Buffer | undefined
  /** Shared by every leaf minted from this CA in this process. */
  readonly leafKey: LeafKey
}

/** How `loadCa` checks the CA. */
export interface LoadCaOptions {
  /** The moment to check validity against; default now. */
  readonly now?: Date
  /** The shared leaf key; default a fresh EC P-256 key. */
  readonly leafKey?: LeafKey
}

/** Loads `ca.pem` and `ca-key.pem` from `dir`, refusing a key others can read, a mismatched pair or an expired CA. */
export async function loadCa(dir: string, options: LoadCaOptions = {}): Promise<Ca> {
  const paths = caPaths(dir)
  const keyPem = await readPrivateFile(paths)
  const info = caInfo(paths, await readCaFile(paths.cert, paths.dir))
  const x509 = parseCertificate(info.pem, paths.cert)
  checkUsable(x509, info, options.now ?? new Date())
  const key = parseKey(keyPem, paths, x509)
  const parts = certificateParts(x509.raw)
  if (!parts) throw new CertError('GUARDED_CA_INVALID', `${paths.cert} cannot be read as X.509; run guarded-proxy ca init --force --dir ${paths.dir}`)
  return Object.freeze({ info, key, subject: parts.subject, keyId: parts.keyId, leafKey: options.leafKey ?? createLeafKey() })
}

/** Reads the key through the same handle it checked, so a swap between check and read cannot slip past. */
async function readPrivateFile(paths: CaPaths): Promise<string> {
  const handle = await open(paths.key, 'r').catch((err: unknown) => Promise.reject(missingOr(err, paths.key, paths.dir)))
  try {
    checkKeyMode((await handle.stat()).mode, paths.key)
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

/** Refuses a CA key that group or others can read: whoever reads it can impersonate every site. */
function checkKeyMode(mode: number, file: string): void {
  if ((mode & 0o077) === 0) return
  const octal = (mode & 0o777).toString(8).padStart(4, '0')
  throw new CertError('GUARDED_CA_KEY_PERMISSIONS', `CA key ${file} is accessible to other users (mode ${octal}); fix it with: chmod 600 ${file}`)
}

function checkUsable(x509: X509Certificate, info: CaInfo, now: Date): void {
  const reinit = `run guarded-proxy ca init --force --dir ${info.paths.dir} and trust the new ca.pem`
  if (!x509.ca) throw new CertError('GUARDED_CA_INVALID', `${info.paths.cert} is not a CA certificate (basicConstraints CA:FALSE); ${reinit}`)
  if (now > info.notAfter) throw new CertError('GUARDED_CA_EXPIRED', `the CA in ${info.paths.cert} expired on ${info.notAfter.toISOString()}; ${reinit}`)
  if (now < info.notBefore) throw new CertError('GUARDED_CA_EXPIRED', `the CA in ${info.paths.cert} is not valid until ${info.notBefore.toISOString()}; check the clock`)
}

function parseKey(pem: string, paths: CaPaths, x509: X509Certificate): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey(pem)
  } catch (err) {
    throw new CertError('GUARDED_CA_INVALID', `${paths.key} is not an unencrypted PEM private key (${(err as Error).message})`)
  }
  if (!x509.checkPrivateKey(key)) throw new CertError('GUARDED_CA_KEY_MISMATCH', `${paths.key} does not belong to ${paths.cert}; restore the pair or run guarded-proxy ca init --force --dir ${paths.dir}`)
  signatureAlgorithm(key) // refuse an unusable key type at start-up, not at the first inspected connection
  return key
}
