import forge from 'node-forge'
import { children, parseDer } from './der.js'

/** The pieces of an issuer certificate a leaf must copy: its subject Name and its subject key identifier. */
export interface CertificateParts {
  /** Copied verbatim into each leaf's issuer field, so chain building matches byte for byte. */
  readonly subject: forge.asn1.Asn1
  /** The CA's own SKI, or none; a leaf's AKI must equal it or OpenSSL rejects the chain. */
  readonly keyId: Buffer | undefined
}

const SKI_OID = '2.5.29.14'

/** Picks the subject and SKI out of a DER certificate, whatever its key type (forge's parser only takes RSA). */
export function certificateParts(der: Buffer): CertificateParts | undefined {
  let tbs: forge.asn1.Asn1[]
  try {
    tbs = children(children(parseDer(der))[0])
  } catch {
    return undefined // OpenSSL accepted it but forge's stricter DER reader did not: report it as invalid
  }
  // TBSCertificate: [0] version?, serial, signature, issuer, validity, subject, spki, ..., [3] extensions?
  const skip = tbs[0]?.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC ? 1 : 0
  const subject = tbs[4 + skip]
  if (!subject) return undefined
  return { subject, keyId: subjectKeyId(tbs) }
}

function subjectKeyId(tbs: forge.asn1.Asn1[]): Buffer | undefined {
  const extensions = tbs.find((n) => n.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && n.type === 3)
  for (const ext of children(children(extensions)[0])) {
    const [id, ...rest] = children(ext)
    const value = rest.at(-1)?.value
    if (typeof id?.value !== 'string' || typeof value !== 'string') continue
    if (forge.asn1.derToOid(id.value) !== SKI_OID) continue
    const inner = parseDer(Buffer.from(value, 'binary')).value
    return typeof inner === 'string' ? Buffer.from(inner, 'binary') : undefined
  }
  return undefined
}
