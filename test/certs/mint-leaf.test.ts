import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { X509Certificate } from 'node:crypto'
import path from 'node:path'
import t, { type Test } from 'tap'
import { LEAF_BACKDATE_MS, LEAF_LIFETIME_MS, initCa, loadCa, mintLeaf, type Ca, type HostKind } from '../../certs/index.js'

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

async function setup(t: Test, validityDays = 365): Promise<{ ca: Ca; dir: string }> {
  const dir = t.testdir()
  await initCa(dir, { validityDays })
  return { ca: await loadCa(dir), dir }
}

t.test('leaves verify against the CA with openssl and carry the right SAN', async (t) => {
  const { ca, dir } = await setup(t)
  const rows: [string, HostKind, RegExp, string][] = [
    ['example.com', 'name', /DNS:example\.com\n/, 'DNS SAN for a name'],
    ['xn--bcher-kva.example', 'name', /DNS:xn--bcher-kva\.example\n/, 'Punycode names as the normaliser hands them over'],
    ['127.0.0.1', 4, /IP Address:127\.0\.0\.1\n/, 'IP SAN for an IPv4 literal'],
    ['2001:db8::1', 6, /IP Address:2001:DB8:0:0:0:0:0:1\n/, 'IP SAN for an IPv6 literal'],
    ['::ffff:10.0.0.1', 6, /IP Address:0:0:0:0:0:FFFF:A00:1\n/, 'v4-mapped v6 stays 16 bytes'],
  ]
  for (const [host, kind, san, why] of rows) {
    const leaf = await mintLeaf(ca, host, kind, new Date())
    const file = path.join(dir, `leaf-${kind}.pem`)
    await writeFile(file, leaf.cert)
    t.match(openssl('verify', '-CAfile', ca.info.paths.cert, '-purpose', 'sslserver', file), /: OK/, `${host} verifies`)
    t.match(openssl('x509', '-noout', '-ext', 'subjectAltName', '-in', file), san, why)
    const x509 = new X509Certificate(leaf.cert)
    t.equal(kind === 'name' ? x509.checkHost(host) : x509.checkIP(host), host, `Node's own check accepts ${host}`)
    t.equal(x509.checkHost('other.example'), undefined, 'and only that host')
  }
})

const x509Text = (pem: string) => execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' })

t.test('a leaf is a server certificate: serverAuth, digitalSignature, not a CA, AKI = CA SKI, shared EC key', async (t) => {
  const { ca } = await setup(t)
  const leaf = await mintLeaf(ca, 'example.com', 'name', new Date())
  const text = x509Text(leaf.cert)
  t.match(text, /Subject: CN = example\.com\n/)
  t.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication\n/)
  t.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature\n/)
  t.match(text, /CA:FALSE/)
  t.match(text, /Public Key Algorithm: id-ecPublicKey[\s\S]*NIST CURVE: P-256/)
  const ski = x509Text(ca.info.pem).match(/Subject Key Identifier: \n\s+(\S+)/)?.[1]
  t.match(text, new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${ski}`), 'AKI points at the CA key')
  const other = await mintLeaf(ca, 'other.example', 'name', new Date())
  t.equal(other.key, leaf.key, 'one key pair for every host')
  t.ok(new X509Certificate(leaf.cert).checkPrivateKey(ca.leafKey.privateKey), 'and it is the key in the certificate')
})

t.test('validity: 24 hours from now, backdated 5 minutes; random serials', async (t) => {
  const { ca } = await setup(t)
  const now = new Date()
  now.setMilliseconds(0) // certificate times have whole seconds
  const leaf = await mintLeaf(ca, 'example.com', 'name', now)
  const x509 = new X509Certificate(leaf.cert)
  t.equal(new Date(x509.validFrom).getTime(), now.getTime() - LEAF_BACKDATE_MS)
  t.equal(new Date(x509.validTo).getTime(), now.getTime() + LEAF_LIFETIME_MS)
  t.equal(LEAF_LIFETIME_MS, 86_400_000)
  t.equal(LEAF_BACKDATE_MS, 300_000)
  const serials = new Set<string>()
  for (let i = 0; i < 20; i++) serials.add((await mintLeaf(ca, 'example.com', 'name', now)).serial)
  t.equal(serials.size, 20, 'no two serials alike')
  t.equal(x509.serialNumber, leaf.serial, 'serial reported as openssl prints it')
})

t.test('a leaf never outlives its CA', async (t) => {
  const { ca } = await setup(t, 1)
  const late = new Date(ca.info.notAfter.getTime() - 60 * 60 * 1000)
  const leaf = await mintLeaf(ca, 'example.com', 'name', late)
  t.equal(leaf.notAfter.getTime(), ca.info.notAfter.getTime(), 'clamped to the CA notAfter')
  await t.rejects(mintLeaf(ca, 'example.com', 'name', new Date(ca.info.notAfter.getTime() + 1000)), { code: 'GUARDED_CA_EXPIRED' })
})

t.test('a host name longer than 64 characters goes in a critical SAN with an empty subject', async (t) => {
  const { ca } = await setup(t)
  const host = `${'a'.repeat(63)}.${'b'.repeat(20)}.example`
  const text = x509Text((await mintLeaf(ca, host, 'name', new Date())).cert)
  t.match(text, /Subject: \n/)
  t.match(text, new RegExp(`X509v3 Subject Alternative Name: critical\\n\\s+DNS:${host}\\n`))
})

t.test('refuses hosts that are not normalised names or literals of the stated family', async (t) => {
  const { ca } = await setup(t)
  const rows: [string, HostKind, string][] = [
    ['*.example.com', 'name', 'a hostile SNI must never buy a wildcard certificate'],
    ['Example.com', 'name', 'the caller lower-cases; two spellings would be two cache entries'],
    ['example.com.', 'name', 'the normaliser strips the trailing dot'],
    ['exa mple.com', 'name', 'spaces'],
    ['a..b', 'name', 'empty label'],
    [`${'a'.repeat(64)}.com`, 'name', 'a label over 63 octets'],
    ['', 'name', 'empty'],
    ['127.0.0.1', 6, 'v4 literal said to be v6'],
    ['::1', 4, 'v6 literal said to be v4'],
    ['256.1.1.1', 4, 'not an address'],
    ['127.1', 4, 'inet_aton shorthand: the normaliser spells addresses out'],
    ['fe80::1%eth0', 6, 'zone ids mean nothing to a client'],
  ]
  for (const [host, kind, why] of rows) {
    await t.rejects(mintLeaf(ca, host, kind, new Date()), { code: 'GUARDED_LEAF_BAD_HOST' }, `${JSON.stringify(host)}: ${why}`)
  }
})
