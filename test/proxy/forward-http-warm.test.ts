/**
 * `serve` loads undici as soon as it is ready, so the first plain-HTTP request does not wait for it.
 * Checked in a fresh Node process (this one has undici loaded already): the module is absent before
 * `warm()`, present after, and closing the forwarder leaves nothing holding the process open.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const FORWARDER = fileURLToPath(new URL('../../dist/proxy/forward-http.js', import.meta.url))

const SCRIPT = `
import { createRequire } from 'node:module'
const { createHttpForwarder } = await import(${JSON.stringify(FORWARDER)})
const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('/node_modules/undici/'))
const limits = { connectTimeoutMs: 1000, idleTimeoutMs: 1000, keepAliveTimeoutMs: 1000 }
const forwarder = createHttpForwarder(limits)
const before = loaded()
await forwarder.warm()
const after = loaded()
await forwarder.warm() // a second call reuses the loaded pools
forwarder.close()
process.stdout.write(JSON.stringify({ before, after }))
`

t.test('warm() loads the HTTP client before any request, once, and close() releases it', async (t) => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  // The process must end by itself: a pool left open would keep it alive until the timeout kills it.
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  clearTimeout(timer)
  t.equal(code, 0, `the child exits on its own (stderr: ${err})`)
  t.same(JSON.parse(out || '{}'), { before: false, after: true }, 'undici is loaded by warm(), not before')
})
