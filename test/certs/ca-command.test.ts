/** `guarded-proxy ca init|show` as a real child process, and the sandbox trust bundle curl then uses. */
import { spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { caTrustEnv, combineBundle, writeCaBundle } from '../../launcher/ca-trust-env.js'
import { tempDir } from '../helpers/temp-dir.js'
import { makeCa, startInspectingStack, startTlsOrigin } from '../helpers/tls-stack.js'

const CLI = fileURLToPath(new URL('../../proxy/cli.ts', import.meta.url))
const TS = new URL('../../node_modules/@tapjs/typescript/dist/esm/import.mjs', import.meta.url).href

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [`--import=${TS}`, CLI, ...args], { env })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d))
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('ca init makes the CA in the default directory, 0600 key; ca show prints the same fingerprint', async (t) => {
  const home = await tempDir(t, 'guarded-ca-cli-')
  const env = { PATH: process.env.PATH ?? '', XDG_CONFIG_HOME: home }
  const init = await run(['ca', 'init', '--days', '30'], env)
  t.equal(init.code, 0, init.stderr)
  const dir = join(home, 'guarded', 'ca')
  t.match(init.stdout, `created ${dir}/ca.pem and ${dir}/ca-key.pem (0600)`)
  t.equal((await stat(join(dir, 'ca-key.pem'))).mode & 0o777, 0o600)
  const show = await run(['ca', 'show'], env)
  t.equal(show.code, 0, show.stderr)
  const fingerprint = /SHA-256: +(\S+)/.exec(show.stdout)?.[1]
  t.ok(fingerprint)
  t.match(init.stdout, fingerprint ?? 'x', 'init and show agree')
  const again = await run(['ca', 'init'], env)
  t.equal(again.code, 1)
  t.match(again.stderr, /already exists; keep it, or replace the CA with: guarded-proxy ca init --force/)
  const bad = await run(['ca', 'frob'], env)
  t.equal(bad.code, 2)
})

t.test('the trust bundle: system roots plus ours, and every variable pointing at it; curl trusts the proxy with it', async (t) => {
  t.same(Object.keys(caTrustEnv('/run/b.pem')).sort(), ['AWS_CA_BUNDLE', 'CARGO_HTTP_CAINFO', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'NODE_EXTRA_CA_CERTS', 'PIP_CERT', 'REQUESTS_CA_BUNDLE', 'SSL_CERT_FILE'])
  t.ok(Object.values(caTrustEnv('/run/b.pem')).every((v) => v === '/run/b.pem'))
  t.equal(combineBundle('A', 'B\n'), 'A\nB\n')
  const proxyCa = await makeCa(t, 'bundle-proxy')
  const originCa = await makeCa(t, 'bundle-origin')
  const origin = await startTlsOrigin(t, originCa, 'api.test')
  const runDir = await tempDir(t, 'guarded-run-')
  const system = join(runDir, 'system.pem')
  await writeFile(system, '# pretend system roots\n')
  const bundle = await writeCaBundle(runDir, proxyCa.pem, system)
  t.equal(await readFile(bundle, 'utf8'), `# pretend system roots\n${proxyCa.pem}`)
  const policy = `version: 1\nallow:\n  - {host: "api.test:${origin.port}", inspect: true}\nallow_private: [127.0.0.0/8]\n`
  const stack = await startInspectingStack(t, { policy, caDir: proxyCa.dir, upstreamCaFile: originCa.certFile, resolve: { 'api.test': '127.0.0.1' }, audit: false })
  const res = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn('curl', ['-sS', '-x', stack.url, `https://api.test:${origin.port}/hello`], { env: { PATH: process.env.PATH ?? '', ...caTrustEnv(bundle) } })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.stderr.on('data', (d: Buffer) => (out += d))
    child.once('close', (code) => resolve({ code, out }))
  })
  t.equal(res.code, 0, res.out)
  t.equal(res.out, 'origin saw GET /hello')
})
