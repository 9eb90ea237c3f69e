import { randomBytes, sign, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import forge from 'node-forge'
import { bitString, explicit, integer, nullNode, oid, sequence, spki, time, toDer } from './der.js'
import { CertError } from './errors.js'

/** A forge extension description, e.g. `{ name: 'basicConstraints', cA: true, critical: true }`. */
export type ExtensionSpec = Record<string, unknown> & ({ name: string } | { id: string })

/** What goes into one certificate; `buildCertificate` adds the version, algorithm and signature. */
export interface CertificateSpec {
  /** Big-endian, positive, at most 20 bytes (RFC 5280 §4.1.2.2). */
  readonly serial: Buffer
  /** The issuer's encoded Name, copied verbatim so it matches the CA's subject byte for byte. */
  readonly issuer: forge.asn1.Asn1
  readonly subject: forge.asn1.Asn1
  readonly notBefore: Date
  readonly notAfter: Date
  /** Taken from Node's KeyObject, so EC keys work although forge only encodes RSA keys. */
  readonly publicKey: KeyObject
  readonly extensions: readonly ExtensionSpec[]
}

interface SignatureAlgorithm {
  readonly node: forge.asn1.Asn1
  readonly hash: string
}

// Native signing runs on libuv's pool: forge's own RSA signing costs ~28 ms of event-loop time.
const signAsync = promisify(sign) as (hash: string, data: Buffer, key: KeyObject) => Promise<Buffer>

/** Builds a TBSCertificate with forge, signs it with Node's crypto and returns the certificate's DER. */
export async function buildCertificate(spec: CertificateSpec, issuerKey: KeyObject): Promise<Buffer> {
  const algorithm = signatureAlgorithm(issuerKey)
  const tbs = tbsCertificate(spec, algorithm.node)
  const signature = await signAsync(algorithm.hash, toDer(tbs), issuerKey)
  return toDer(sequence([tbs, algorithm.node, bitString(signature)]))
}

/** PEM armour for a DER certificate. */
export function certificatePem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}

/** The AlgorithmIdentifier for signing with this key: RSA PKCS#1 v1.5 or ECDSA, as issuers in the wild use. */
export function signatureAlgorithm(key: KeyObject): SignatureAlgorithm {
  if (key.asymmetricKeyType === 'rsa') return { node: sequence([oid('1.2.840.113549.1.1.11'), nullNode()]), hash: 'sha256' }
  const curve = key.asymmetricKeyType === 'ec' ? key.asymmetricKeyDetails?.namedCurve : undefined
  // ECDSA AlgorithmIdentifiers carry no parameters at all (RFC 5758 §3.2); Node's signature is already DER.
  if (curve === 'prime256v1') return { node: sequence([oid('1.2.840.10045.4.3.2')]), hash: 'sha256' }
  if (curve === 'secp384r1') return { node: sequence([oid('1.2.840.10045.4.3.3')]), hash: 'sha384' }
  throw new CertError('GUARDED_CA_UNSUPPORTED_KEY', `CA key type ${key.asymmetricKeyType ?? '?'} ${curve ?? ''} is not supported; use RSA, EC P-256 or EC P-384`)
}

function tbsCertificate(spec: CertificateSpec, algorithm: forge.asn1.Asn1): forge.asn1.Asn1 {
  const v3 = explicit(0, integer(Buffer.from([2])))
  const validity = sequence([time(spec.notBefore), time(spec.notAfter)])
  const fields = [v3, integer(spec.serial), algorithm, spec.issuer, validity, spec.subject, spki(spec.publicKey)]
  return sequence(spec.extensions.length > 0 ? [...fields, extensions(spec.extensions)] : fields)
}

// forge's extension encoders only run through Certificate#setExtensions, and the converter is missing from @types.
const pki = forge.pki as typeof forge.pki & { certificateExtensionsToAsn1(exts: unknown[]): forge.asn1.Asn1 }

function extensions(specs: readonly ExtensionSpec[]): forge.asn1.Asn1 {
  const holder = pki.createCertificate()
  holder.setExtensions(specs.map((s) => ({ ...s })))
  return pki.certificateExtensionsToAsn1(holder.extensions)
}

/** A random 128-bit serial, positive and without a leading zero byte so its DER encoding is minimal. */
export function randomSerial(): Buffer {
  const bytes = randomBytes(16)
  bytes[0] = 0x40 | ((bytes[0] ?? 0) & 0x3f)
  return bytes
}

/** An X.501 Name of UTF8String attributes, e.g. `{ CN: 'example.com' }` (insertion order is kept). */
export function distinguishedName(attrs: { readonly CN?: string; readonly O?: string }): forge.asn1.Asn1 {
  const types = { CN: '2.5.4.3', O: '2.5.4.10' } as const
  const attributes = Object.entries(attrs).map(([k, value]) => ({ type: types[k as keyof typeof types], value, valueTagClass: forge.asn1.Type.UTF8 }))
  return forge.pki.distinguishedNameToAsn1({ attributes } as unknown as Parameters<typeof forge.pki.distinguishedNameToAsn1>[0])
}
