import { execFileSync } from 'node:child_process'
import { stat, readFile, writeFile, chmod } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { describeCa, fingerprint, initCa, readCaInfo } from '../../certs/index.js'

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' })
const mode = async (file: string) => (await stat(file)).mode & 0o777

t.test('init writes ca.pem 0644 and ca-key.pem 0600, whatever the umask', async (t) => {
  const dir = path.join(t.testdir(), 'nested', 'ca')
  const old = process.umask(0o000) // the loosest umask: modes must still come out exact
  t.teardown(() => process.umask(old))
  const info = await initCa(dir, {})
  t.equal(await mode(info.paths.cert), 0o644)
  t.equal(await mode(info.paths.key), 0o600)
  t.equal(await mode(dir), 0o700, 'a directory it creates is private too')
  t.match(await readFile(info.paths.key, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
})

t.test('openssl sees a critical CA:TRUE, pathlen:0 with keyCertSign and cRLSign only', async (t) => {
  const info = await initCa(t.testdir(), { validityDays: 30, commonName: 'Test Inspection CA' })
  const text = openssl('x509', '-noout', '-text', '-in', info.paths.cert)
  t.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/)
  t.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/)
  t.match(text, /Subject: CN = Test Inspection CA, O = Guarded/)
  t.match(text, /Signature Algorithm: ecdsa-with-SHA256/)
  t.match(text, /X509v3 Subject Key Identifier/)
  // openssl verify of a self-signed root proves the signature and the encoding are sound.
  t.match(openssl('verify', '-CAfile', info.paths.cert, info.paths.cert), /: OK/)
})

t.test('validity is what the user chose, backdated an hour for slow clocks', async (t) => {
  const now = new Date('2030-01-01T00:00:00Z')
  const info = await initCa(t.testdir(), { validityDays: 10, now })
  t.equal(info.notBefore.toISOString(), '2029-12-31T23:00:00.000Z')
  t.equal(info.notAfter.toISOString(), '2030-01-11T00:00:00.000Z')
  t.match(openssl('x509', '-noout', '-enddate', '-in', info.paths.cert), /Jan 11 00:00:00 2030 GMT/)
  for (const bad of [0, -1, 1.5, 3651, Number.NaN]) {
    await t.rejects(initCa(t.testdir(), { validityDays: bad }), { code: 'GUARDED_CA_BAD_OPTIONS' }, `${bad} days`)
  }
})

t.test('fingerprint matches openssl x509 -fingerprint -sha256 exactly', async (t) => {
  const info = await initCa(t.testdir(), {})
  const line = openssl('x509', '-noout', '-fingerprint', '-sha256', '-in', info.paths.cert).trim()
  t.equal(line.split('=')[1], info.fingerprint)
  t.equal(fingerprint(info.pem), info.fingerprint)
  t.match(info.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
})

t.test('init refuses to overwrite either file unless --force', async (t) => {
  const root = t.testdir({ lone: { 'ca-key.pem': 'old key' } })
  const dir = path.join(root, 'ca')
  const first = await initCa(dir, {})
  await t.rejects(initCa(dir, {}), { code: 'GUARDED_CA_EXISTS', message: /ca\.pem already exists.*--force/ })
  t.equal((await readCaInfo(dir)).fingerprint, first.fingerprint, 'the refused init changed nothing')

  await t.rejects(initCa(path.join(root, 'lone'), {}), { code: 'GUARDED_CA_EXISTS', message: /ca-key\.pem already exists/ }, 'a lone key is not clobbered either')

  await chmod(first.paths.key, 0o644)
  const second = await initCa(dir, { force: true })
  t.not(second.fingerprint, first.fingerprint, '--force makes a new CA')
  t.equal(await mode(second.paths.key), 0o600, 'and the replaced key is 0600 even if the old one was not')
})

t.test('ca show text: fingerprint, subject, validity and how to trust it', async (t) => {
  const info = await initCa(t.testdir(), {})
  const text = describeCa(await readCaInfo(info.paths.dir))
  t.match(text, info.fingerprint)
  t.match(text, info.subject)
  t.match(text, info.notAfter.toISOString())
  t.match(text, `sudo cp ${info.paths.cert} /usr/local/share/ca-certificates/guarded.crt && sudo update-ca-certificates`)
  t.match(text, `NODE_EXTRA_CA_CERTS=${info.paths.cert}`)
  t.match(text, /SSL_CERT_FILE/)
})

t.test('ca show on a directory without a CA says how to make one', async (t) => {
  const dir = t.testdir()
  await t.rejects(readCaInfo(dir), { code: 'GUARDED_CA_MISSING', message: `guarded-proxy ca init --dir ${dir}` })
  await writeFile(path.join(dir, 'ca.pem'), 'not a certificate')
  await t.rejects(readCaInfo(dir), { code: 'GUARDED_CA_INVALID', message: /ca\.pem is not a PEM certificate/ })
})
