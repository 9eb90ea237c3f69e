import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startForwarder } from '../../launcher/forwarder.js'

const dir = mkdtempSync(join(tmpdir(), 'guarded-fwd-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

t.test('carries bytes both ways, and half-closes', async (t) => {
  const socket = join(dir, 'echo.sock')
  // an upstream that answers after the client half-closes: proves end() travels through
  const upstream = createServer({ allowHalfOpen: true }, (s) => {
    let got = ''
    s.on('data', (d: Buffer) => { got += d.toString() })
    s.on('end', () => s.end(`got:${got}`))
  })
  await new Promise<void>((resolve) => upstream.listen(socket, resolve))
  const fwd = await startForwarder(socket, 0)
  t.teardown(() => { fwd.close(); upstream.close() })
  const port = (fwd.address() as AddressInfo).port
  const reply = await new Promise<string>((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => c.end('hello'))
    let out = ''
    c.on('data', (d: Buffer) => { out += d.toString() })
    c.on('end', () => resolve(out))
    c.on('error', reject)
  })
  t.equal(reply, 'got:hello')
})

t.test('a dead upstream closes the client instead of hanging', async (t) => {
  const fwd = await startForwarder(join(dir, 'missing.sock'), 0)
  t.teardown(() => fwd.close())
  const closed = await new Promise<boolean>((resolve) => {
    const c = connect((fwd.address() as AddressInfo).port, '127.0.0.1')
    c.on('close', () => resolve(true))
    c.on('error', () => {})
  })
  t.ok(closed)
})

t.test('runnable as a script: `forwarder SOCKET PORT` says when it listens', async (t) => {
  const child = spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, '..', '..', 'launcher', 'forwarder-cli.ts'), join(dir, 'x.sock'), '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill() })
  const line = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())))
  t.match(line, /^guarded-forwarder listening on 127\.0\.0\.1:\d+\n$/)
})
