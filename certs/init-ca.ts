import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { access, mkdir, open, rename, unlink } from 'node:fs/promises'
import { buildCertificate, certificatePem, distinguishedName, randomSerial, type CertificateSpec } from './build-certificate.js'
import { caPaths, type CaPaths } from './ca-dir.js'
import { caInfo, type CaInfo } from './ca-info.js'
import { keyIdentifier, octetString } from './der.js'
import { CertError } from './errors.js'

/** How `ca init` makes the CA. */
export interface InitCaOptions {
  /** Whole days the CA stays valid, 1 to 3650; default 365. Leaves never outlive it. */
  readonly validityDays?: number
  /** Replace an existing CA; clients that trusted the old one stop trusting the proxy. */
  readonly force?: boolean
  /** Subject CN; default `Guarded inspection CA <first 8 hex of the key id>`, so several CAs stay distinguishable in a trust store. */
  readonly commonName?: string
  /** The moment the CA is made; tests pin it. */
  readonly now?: Date
}

const DAY_MS = 86_400_000
// Clients whose clocks run a little slow would otherwise see a not-yet-valid CA for its first minutes.
const CA_BACKDATE_MS = 60 * 60 * 1000

/** Creates `ca.pem` (0644) and `ca-key.pem` (0600) in `dir`, refusing to replace an existing CA unless `force`. */
export async function initCa(dir: string, options: InitCaOptions = {}): Promise<CaInfo> {
  const validityDays = checkValidityDays(options.validityDays ?? 365)
  const paths = caPaths(dir)
  if (!options.force) await refuseExisting(paths)
  await mkdir(paths.dir, { recursive: true, mode: 0o700 })
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const der = await buildCertificate(caSpec(publicKey, validityDays, options), privateKey)
  const pem = certificatePem(der)
  // Key first: a ca.pem without its key is useless, a key without ca.pem is simply re-initialised.
  await writeFileAtomically(paths.key, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600)
  await writeFileAtomically(paths.cert, pem, 0o644)
  return caInfo(paths, pem)
}

function checkValidityDays(days: number): number {
  if (Number.isInteger(days) && days >= 1 && days <= 3650) return days
  throw new CertError('GUARDED_CA_BAD_OPTIONS', `CA validity must be a whole number of days from 1 to 3650, got ${days}`)
}

async function refuseExisting(paths: CaPaths): Promise<void> {
  for (const file of [paths.cert, paths.key]) {
    if (await exists(file)) {
      throw new CertError('GUARDED_CA_EXISTS', `${file} already exists; keep it, or replace the CA with: guarded-proxy ca init --force --dir ${paths.dir}`)
    }
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false)
}

function caSpec(publicKey: KeyObject, validityDays: number, options: InitCaOptions): CertificateSpec {
  const keyId = keyIdentifier(publicKey)
  const name = distinguishedName({ CN: options.commonName ?? `Guarded inspection CA ${keyId.toString('hex', 0, 4)}`, O: 'Guarded' })
  const now = options.now ?? new Date()
  return {
    serial: randomSerial(),
    issuer: name,
    subject: name,
    notBefore: new Date(now.getTime() - CA_BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    publicKey,
    extensions: [
      // pathlen 0: even a stolen key can only sign leaves, never another CA.
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier', value: octetString(keyId) },
    ],
  }
}

/** Writes via a fresh temporary file and rename, so the mode is exact from the first byte and readers never see half a key. */
async function writeFileAtomically(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeNewFile(tmp, data, mode)
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

async function writeNewFile(file: string, data: string, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode)
  try {
    await handle.chmod(mode) // open's mode is filtered by the umask
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
}
