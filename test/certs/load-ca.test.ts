import { execFileSync } from 'node:child_process'
import { chmod, copyFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { initCa, loadCa, mintLeaf } from '../../certs/index.js'

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

t.test('loads a CA made by init, with its subject and key id for leaves', async (t) => {
  const info = await initCa(t.testdir(), {})
  const ca = await loadCa(info.paths.dir)
  t.equal(ca.info.fingerprint, info.fingerprint)
  t.equal(ca.key.asymmetricKeyType, 'ec')
  t.equal(ca.keyId?.length, 20, 'the SKI init wrote, read back')
  t.equal(ca.leafKey.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1', 'one EC P-256 leaf key per load')
})

t.test('refuses a key that group or others can read, naming the file and the fix', async (t) => {
  const info = await initCa(t.testdir(), {})
  for (const loose of [0o644, 0o640, 0o604, 0o601]) {
    await chmod(info.paths.key, loose)
    const octal = loose.toString(8).padStart(4, '0')
    await t.rejects(loadCa(info.paths.dir), {
      code: 'GUARDED_CA_KEY_PERMISSIONS',
      message: `CA key ${info.paths.key} is accessible to other users (mode ${octal}); fix it with: chmod 600 ${info.paths.key}`,
    }, `mode ${octal}`)
  }
  await chmod(info.paths.key, 0o400)
  t.ok(await loadCa(info.paths.dir), '0400 is fine: only the owner can read it')
})

t.test('a missing CA says to run ca init in that directory', async (t) => {
  const dir = t.testdir()
  await t.rejects(loadCa(dir), { code: 'GUARDED_CA_MISSING', message: `guarded-proxy ca init --dir ${dir}` })
})

t.test('a key from another CA is refused', async (t) => {
  const root = t.testdir() // one fixture dir per test: a second t.testdir() call would wipe the first CA
  const a = await initCa(path.join(root, 'a'), {})
  const b = await initCa(path.join(root, 'b'), {})
  await copyFile(b.paths.key, a.paths.key)
  await t.rejects(loadCa(a.paths.dir), { code: 'GUARDED_CA_KEY_MISMATCH', message: /does not belong to/ })
})

t.test('an expired or not-yet-valid CA is refused with the way out', async (t) => {
  const info = await initCa(t.testdir(), { validityDays: 1, now: new Date('2030-01-01T00:00:00Z') })
  await t.rejects(loadCa(info.paths.dir, { now: new Date('2030-01-03T00:00:00Z') }), { code: 'GUARDED_CA_EXPIRED', message: /expired.*ca init --force/ })
  await t.rejects(loadCa(info.paths.dir, { now: new Date('2029-12-01T00:00:00Z') }), { code: 'GUARDED_CA_EXPIRED', message: /check the clock/ })
  t.ok(await loadCa(info.paths.dir, { now: new Date('2030-01-01T12:00:00Z') }))
})

t.test('a certificate that is not a CA is refused', async (t) => {
  const dir = t.testdir()
  const cert = path.join(dir, 'ca.pem')
  const key = path.join(dir, 'ca-key.pem')
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=leaf', '-days', '1',
    '-addext', 'basicConstraints=critical,CA:FALSE', '-keyout', key, '-out', cert)
  await chmod(key, 0o600)
  await t.rejects(loadCa(dir), { code: 'GUARDED_CA_INVALID', message: /not a CA certificate/ })
})

t.test('an RSA CA made with openssl works too: leaves are signed sha256WithRSA and verify', async (t) => {
  const dir = t.testdir()
  const cert = path.join(dir, 'ca.pem')
  const key = path.join(dir, 'ca-key.pem')
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/C=DE/O=Corp/CN=Corp Inspection', '-days', '30',
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', key, '-out', cert)
  await chmod(key, 0o600)
  const ca = await loadCa(dir)
  const leaf = await mintLeaf(ca, 'example.com', 'name', new Date())
  const leafFile = path.join(dir, 'leaf.pem')
  await writeFile(leafFile, leaf.cert)
  t.match(openssl('verify', '-CAfile', cert, leafFile), /leaf\.pem: OK/)
  const text = openssl('x509', '-noout', '-text', '-in', leafFile)
  t.match(text, /Signature Algorithm: sha256WithRSAEncryption/)
  t.match(text, /Issuer: C = DE, O = Corp, CN = Corp Inspection/, 'issuer copied byte for byte, PrintableString C included')
})

t.test('an unreadable key file is reported, not crashed on', async (t) => {
  const info = await initCa(t.testdir(), {})
  await writeFile(info.paths.key, 'garbage', { mode: 0o600 })
  await t.rejects(loadCa(info.paths.dir), { code: 'GUARDED_CA_INVALID', message: /not an unencrypted PEM private key/ })
})
