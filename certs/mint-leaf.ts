import ipaddr from 'ipaddr.js'
import { buildCertificate, certificatePem, distinguishedName, randomSerial } from './build-certificate.js'
import { CertError } from './errors.js'
import type { Ca } from './load-ca.js'

/** What a host is: a DNS name or an IP literal of family 4 or 6; decides the SAN type. */
export type HostKind = 'name' | 4 | 6

/** A minted leaf certificate and the shared key that goes with it. */
export interface LeafCert {
  readonly host: string
  readonly kind: HostKind
  /** PEM certificate. */
  readonly cert: string
  /** PEM PKCS#8 private key, the same for every leaf of this CA. */
  readonly key: string
  readonly notBefore: Date
  readonly notAfter: Date
  /** Upper-case hex, as `openssl x509 -serial` prints it. */
  readonly serial: string
}

/** How long a leaf lives: short, because it is re-minted for free and a leaked one should die soon. */
export const LEAF_LIFETIME_MS = 24 * 60 * 60 * 1000
/** How far a leaf is backdated, for clients whose clocks run a few minutes slow. */
export const LEAF_BACKDATE_MS = 5 * 60 * 1000

// Lower-case LDH labels (plus `_`, seen on real hosts), as the policy normaliser emits them. Refusing `*` keeps a
// hostile SNI or CONNECT target from ever getting a wildcard certificate out of us.
const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?'
const HOST_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`)

/** Mints a certificate for `host` signed by the CA, valid from `now` minus 5 minutes for 24 hours (never past the CA). */
export async function mintLeaf(ca: Ca, host: string, kind: HostKind, now: Date): Promise<LeafCert> {
  const san = subjectAltName(host, kind)
  const notBefore = new Date(now.getTime() - LEAF_BACKDATE_MS)
  const notAfter = new Date(Math.min(now.getTime() + LEAF_LIFETIME_MS, ca.info.notAfter.getTime()))
  if (notAfter <= now) throw new CertError('GUARDED_CA_EXPIRED', `the CA expired on ${ca.info.notAfter.toISOString()}; run guarded-proxy ca init --force`)
  const serial = randomSerial()
  // RFC 5280 §4.1.2.6: CN is capped at 64 characters; a longer name goes in the SAN alone, which must then be critical.
  const fitsCn = host.length <= 64
  const der = await buildCertificate({
    serial,
    issuer: ca.subject,
    subject: distinguishedName(fitsCn ? { CN: host } : {}),
    notBefore,
    notAfter,
    publicKey: ca.leafKey.publicKey,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [san], critical: !fitsCn },
      ...(ca.keyId ? [{ name: 'authorityKeyIdentifier', keyIdentifier: ca.keyId.toString('binary') }] : []),
    ],
  }, ca.key)
  return Object.freeze({ host, kind, cert: certificatePem(der), key: ca.leafKey.pem, notBefore, notAfter, serial: serial.toString('hex').toUpperCase() })
}

/** The SAN entry for a host: dNSName (2) for names, iPAddress (7) with the raw address bytes for literals. */
function subjectAltName(host: string, kind: HostKind): { type: number; value: string } {
  if (kind === 'name' && HOST_NAME.test(host)) return { type: 2, value: host }
  if (kind === 4 && ipaddr.IPv4.isValidFourPartDecimal(host)) return ipEntry(host)
  if (kind === 6 && !host.includes('%') && ipaddr.IPv6.isValid(host)) return ipEntry(host)
  throw new CertError('GUARDED_LEAF_BAD_HOST', `cannot mint a certificate for ${JSON.stringify(host)} as ${kind === 'name' ? 'a host name' : `an IPv${kind} address`}; pass a normalised host`)
}

function ipEntry(host: string): { type: number; value: string } {
  return { type: 7, value: Buffer.from(ipaddr.parse(host).toByteArray()).toString('binary') }
}
