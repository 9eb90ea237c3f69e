import { readFile } from 'node:fs/promises'
import { X509Certificate } from 'node:crypto'
import { caPaths, type CaPaths } from './ca-dir.js'
import { CertError } from './errors.js'

/** What `ca init` reports and `ca show` prints about a CA certificate. */
export interface CaInfo {
  readonly paths: CaPaths
  /** SHA-256 in colon hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string
  /** One line, e.g. `CN=Guarded inspection CA 1a2b3c4d, O=Guarded`. */
  readonly subject: string
  readonly notBefore: Date
  readonly notAfter: Date
  readonly pem: string
}

/** Describes an already parsed CA certificate. */
export function caInfo(paths: CaPaths, pem: string): CaInfo {
  const x509 = parseCertificate(pem, paths.cert)
  return Object.freeze({
    paths,
    fingerprint: x509.fingerprint256,
    subject: x509.subject.split('\n').join(', '),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    pem,
  })
}

/** Reads `ca.pem` only, so `ca show` works without touching the private key. */
export async function readCaInfo(dir: string): Promise<CaInfo> {
  const paths = caPaths(dir)
  return caInfo(paths, await readCaFile(paths.cert, paths.dir))
}

/** Parses a PEM certificate, turning Node's generic error into one that names the file. */
export function parseCertificate(pem: string, file: string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch (err) {
    throw new CertError('GUARDED_CA_INVALID', `${file} is not a PEM certificate (${(err as Error).message}); run guarded-proxy ca init --force`)
  }
}

/** Reads a CA file, saying how to create the CA when it is missing. */
export async function readCaFile(file: string, dir: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw missingOr(err, file, dir)
  }
}

/** ENOENT becomes GUARDED_CA_MISSING with the command that fixes it; anything else passes through. */
export function missingOr(err: unknown, file: string, dir: string): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return err
  return new CertError('GUARDED_CA_MISSING', `no CA at ${file}; create one with: guarded-proxy ca init --dir ${dir}`)
}
