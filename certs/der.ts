/** Thin typed helpers over forge's ASN.1 so the certificate builders read as the RFC 5280 structures they make. */
import { createHash, type KeyObject } from 'node:crypto'
import forge from 'node-forge'

const { asn1 } = forge
type Node = forge.asn1.Asn1

/** Parses DER without forge's guess that BIT STRINGs hold ASN.1, so re-encoding gives back the same bytes. */
export function parseDer(der: Buffer): Node {
  const options = { strict: true, parseAllBytes: true, decodeBitStrings: false }
  // @types/node-forge only declares the boolean form of the options argument.
  return (asn1.fromDer as unknown as (bytes: string, opts: object) => Node)(der.toString('binary'), options)
}

/** Encodes a forge node to a Buffer. */
export function toDer(node: Node): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary')
}

/** SEQUENCE of the given nodes. */
export function sequence(items: Node[]): Node {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items)
}

/** OBJECT IDENTIFIER from dotted form. */
export function oid(dotted: string): Node {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(dotted).getBytes())
}

/** NULL, as RSA AlgorithmIdentifiers require. */
export function nullNode(): Node {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, '')
}

/** A positive INTEGER from big-endian bytes the caller already made minimal and positive. */
export function integer(bytes: Buffer): Node {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, bytes.toString('binary'))
}

/** BIT STRING with no unused bits, as signatures are. */
export function bitString(bytes: Buffer): Node {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, '\0' + bytes.toString('binary'))
}

/** OCTET STRING. */
export function octetString(bytes: Buffer): Node {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes.toString('binary'))
}

/** `[n] EXPLICIT` wrapper, as the TBSCertificate version and extensions use. */
export function explicit(tag: number, inner: Node): Node {
  return asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, true, [inner])
}

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5). */
export function time(date: Date): Node {
  return date.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date))
}

/** The children of a constructed node; an empty list for a primitive one. */
export function children(node: Node | undefined): Node[] {
  return node && Array.isArray(node.value) ? node.value : []
}

/** A public key's SubjectPublicKeyInfo as a forge node, whatever its algorithm (forge itself only encodes RSA). */
export function spki(publicKey: KeyObject): Node {
  return parseDer(publicKey.export({ type: 'spki', format: 'der' }))
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits; used for SKI and AKI. */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const bits = children(spki(publicKey))[1]?.value
  // The first byte of a BIT STRING's contents is the unused-bit count, not key material.
  const raw = typeof bits === 'string' ? Buffer.from(bits, 'binary').subarray(1) : Buffer.alloc(0)
  return createHash('sha1').update(raw).digest()
}
