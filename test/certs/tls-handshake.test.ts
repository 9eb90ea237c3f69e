import { execFile } from 'node:child_process'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import tls from 'node:tls'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { initCa, LeafCache, loadCa, type Ca } from '../../certs/index.js'

const run = promisify(execFile)

async function setup(t: Test): Promise<{ ca: Ca; cache: LeafCache }> {
  const dir = t.testdir()
  await initCa(dir, {})
  const ca = await loadCa(dir)
  return { ca, cache: new LeafCache(ca) }
}

/** A TLS server on 127.0.0.1:0 that picks its leaf from the cache by SNI, as the inspecting proxy will. */
async function startServer(t: Test, options: tls.TlsOptions, onSecure: (socket: tls.TLSSocket) => void = (s) => s.end('hello from the leaf')): Promise<number> {
  const server = tls.createServer(options, onSecure)
  await listen(t, server)
  return (server.address() as AddressInfo).port
}

async function listen(t: Test, server: tls.Server): Promise<void> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
}

function sniFrom(cache: LeafCache): tls.TlsOptions['SNICallback'] {
  return (name, cb) => void cache.get(name.toLowerCase(), 'name').then((leaf) => cb(null, leaf.context), (err: Error) => cb(err))
}

/** Connects trusting nothing but `ca` (when given), resolving to what the server said or rejecting with the TLS error. */
function connect(t: Test, port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options })
    t.teardown(() => socket.destroy())
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { text += chunk })
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
}

t.test('Node trusting only the CA accepts a minted leaf, with the server name checked', async (t) => {
  const { ca, cache } = await setup(t)
  const port = await startServer(t, { SNICallback: sniFrom(cache) })
  t.equal(await connect(t, port, { servername: 'guarded.test', ca: ca.info.pem }), 'hello from the leaf')
  await t.rejects(connect(t, port, { servername: 'guarded.test' }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'without the CA: untrusted')
  t.equal(cache.mints, 1, 'one mint served both handshakes')
})

t.test('a leaf for one name is refused for another', async (t) => {
  const { ca, cache } = await setup(t)
  const leaf = await cache.get('a.test', 'name')
  const port = await startServer(t, { cert: leaf.cert, key: leaf.key })
  t.equal(await connect(t, port, { servername: 'a.test', ca: ca.info.pem }), 'hello from the leaf')
  await t.rejects(connect(t, port, { servername: 'b.test', ca: ca.info.pem }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
})

t.test('an IP literal leaf is accepted for that IP (no SNI is sent for IPs)', async (t) => {
  const { ca, cache } = await setup(t)
  const leaf = await cache.get('127.0.0.1', 4)
  const port = await startServer(t, { cert: leaf.cert, key: leaf.key })
  t.equal(await connect(t, port, { ca: ca.info.pem }), 'hello from the leaf')
  const other = await cache.get('127.0.0.2', 4)
  const otherPort = await startServer(t, { cert: other.cert, key: other.key })
  await t.rejects(connect(t, otherPort, { ca: ca.info.pem }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }, 'the IP SAN is checked')
})

t.test('curl --cacert ca.pem accepts it too (OpenSSL, not Node)', async (t) => {
  const { ca, cache } = await setup(t)
  const server = https.createServer({ SNICallback: sniFrom(cache) }, (_req, res) => res.end('curl ok'))
  await listen(t, server)
  const { port } = server.address() as AddressInfo
  const url = `https://guarded.test:${port}/`
  const args = ['--silent', '--show-error', '--noproxy', '*', '--cacert', ca.info.paths.cert, '--resolve', `guarded.test:${port}:127.0.0.1`, url]
  // Async on purpose: the server runs in this very process.
  const { stdout } = await run('curl', args, { env: { PATH: process.env.PATH } })
  t.equal(stdout, 'curl ok')
  await t.rejects(run('curl', args.filter((a, i) => a !== '--cacert' && args[i - 1] !== '--cacert'), { env: { PATH: process.env.PATH } }), /SSL certificate problem/, 'and refuses without the CA')
})
