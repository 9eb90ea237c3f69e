/** Opaque tunnels: the ClientHello's SNI must name the CONNECT target, and tls_ports must open with TLS. */
import { spawn } from 'node:child_process'
import { createServer, type Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import t from 'tap'
import { checkClientHello } from '../../proxy/check-client-hello.js'
import { readClientHello } from '../../proxy/read-client-hello.js'
import { openTunnel, readAll, readBytes } from '../helpers/clients.js'
import { listenOn } from '../helpers/origins.js'
import { makeCa, startInspectingStack, startTlsOrigin } from '../helpers/tls-stack.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

const PINS = { 'api.test': '127.0.0.1', 'evil.test': '127.0.0.1' }

/** A TCP origin that counts the bytes it received and can speak first. */
async function countingOrigin(t: Teardown, banner?: string): Promise<{ port: number; bytes: () => number }> {
  let bytes = 0
  const server = createServer((s: Socket) => {
    s.on('error', () => {})
    s.on('data', (d: Buffer) => {
      bytes += d.length
      s.write(d)
    })
    if (banner) s.write(banner)
  })
  return { port: await listenOn(server, t), bytes: () => bytes }
}

/** The ClientHello a real TLS client sends for `servername`, captured off a socket. */
async function captureHello(t: Teardown, servername?: string): Promise<Buffer> {
  let resolveHello: (b: Buffer) => void = () => {}
  const hello = new Promise<Buffer>((r) => (resolveHello = r))
  const server = createServer((s: Socket) => s.once('data', (d: Buffer) => (resolveHello(d), s.destroy())))
  const port = await listenOn(server, t)
  const client = tlsConnect({ host: '127.0.0.1', port, ...(servername !== undefined && { servername }) })
  client.on('error', () => {})
  return hello.finally(() => client.destroy())
}

t.test('checkClientHello, as a table', async (t) => {
  const name = { host: 'api.test', port: 443, kind: 'name' as const }
  const ip = { host: '127.0.0.1', port: 443, kind: 4 as const }
  const hello = async (sni?: string) => ({ hello: readClientHello(await captureHello(t, sni)), length: 1 })
  const rows: [string, Awaited<ReturnType<typeof hello>>, typeof name | typeof ip, boolean, string][] = [
    ['matching SNI', await hello('api.test'), name, true, 'ok'],
    ['SNI in other case', await hello('API.Test'), name, true, 'ok'],
    ['another host', await hello('evil.test'), name, true, 'sni-mismatch'],
    ['an IP literal target, no SNI', await hello(''), ip, true, 'ok'],
    ['an IP literal target, a name in SNI', await hello('evil.test'), ip, true, 'sni-mismatch'],
    ['plaintext on a TLS port', { hello: readClientHello(Buffer.from('GET / HTTP/1.1\r\n')), length: 16 }, name, true, 'not-tls'],
    ['plaintext elsewhere', { hello: readClientHello(Buffer.from('SSH-2.0-x\r\n')), length: 11 }, name, false, 'ok'],
    ['silence on a TLS port', { hello: { kind: 'need-more' }, length: 0 }, name, true, 'not-tls'],
    ['silence elsewhere (server speaks first)', { hello: { kind: 'need-more' }, length: 0 }, name, false, 'ok'],
    ['malformed TLS anywhere', { hello: { kind: 'malformed', problem: 'x' }, length: 9 }, name, false, 'not-tls'],
  ]
  for (const [why, seen, target, tlsPort, expected] of rows) {
    const check = checkClientHello(seen, target, tlsPort)
    t.equal(check.ok ? 'ok' : check.reason, expected, why)
  }
})

t.test('opaque tunnels', async (t) => {
  const originCa = await makeCa(t, 'sni-origin')
  const tlsOrigin = await startTlsOrigin(t, originCa, 'api.test')
  const counting = await countingOrigin(t)
  const speaker = await countingOrigin(t, '220 hello\r\n')
  const policy = ['version: 1', 'allow:', '  - "api.test:*"', '  - "127.0.0.0/8:*"', `tls_ports: [443, ${tlsOrigin.port}, ${counting.port}]`, 'allow_private: [127.0.0.0/8]', ''].join('\n')
  const stack = await startInspectingStack(t, { policy, caDir: '/nonexistent', resolve: PINS, audit: false })
  const decision = () => stack.events.filter((e) => e.type === 'decision').at(-1)
  const handshake = async (target: string, servername: string | undefined): Promise<TLSSocket | Error> => {
    const tunnel = await openTunnel(t, stack.port, target)
    return new Promise((resolve) => {
      const s = tlsConnect({ socket: tunnel.socket, ca: originCa.pem, ...(servername ? { servername } : { rejectUnauthorized: false }) }, () => resolve(s))
      s.once('error', resolve)
    })
  }

  await t.test('a matching SNI passes, and the tunnel is not inspected (no CA was needed)', async (t) => {
    const socket = await handshake(`api.test:${tlsOrigin.port}`, 'api.test')
    t.notOk(socket instanceof Error, String(socket))
    if (!(socket instanceof Error)) socket.destroy()
    t.match(decision(), { 'guarded.verdict': 'allow', 'server.address': 'api.test' })
  })

  await t.test('an SNI naming another host is refused before a byte reaches the destination', async (t) => {
    const result = await handshake(`api.test:${counting.port}`, 'evil.test')
    t.ok(result instanceof Error, 'the handshake failed')
    t.match(String(result), /unrecognized name|alert|ECONNRESET|socket disconnected/i)
    await new Promise((r) => setTimeout(r, 50))
    t.equal(counting.bytes(), 0, 'the origin received nothing')
    t.match(decision(), { 'guarded.verdict': 'deny', 'guarded.reason': 'sni-mismatch' })
  })

  await t.test('openssl s_client -proxy with a fronted -servername is refused', async (t) => {
    const out = await new Promise<string>((resolve) => {
      const child = spawn('openssl', ['s_client', '-connect', `api.test:${tlsOrigin.port}`, '-proxy', `127.0.0.1:${stack.port}`, '-servername', 'evil.test'], { stdio: ['pipe', 'pipe', 'pipe'] })
      let text = ''
      child.stdout.on('data', (d: Buffer) => (text += d))
      child.stderr.on('data', (d: Buffer) => (text += d))
      child.once('close', () => resolve(text))
      child.stdin.end()
    })
    t.match(out, /alert unrecognized name|unrecognized_name|alert number 112/i)
    t.match(decision(), { 'guarded.reason': 'sni-mismatch' })
  })

  await t.test('plaintext on a port listed in tls_ports is refused with an explained 403', async (t) => {
    const tunnel = await openTunnel(t, stack.port, `api.test:${counting.port}`)
    tunnel.socket.write('GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n')
    const answer = (await readAll(tunnel.socket)).toString()
    t.match(answer, /^HTTP\/1\.1 403 .*\r\n(.*\r\n)*x-guarded-decision: not-tls\r\n/)
    t.match(answer, /listed in tls_ports/)
    t.equal(counting.bytes(), 0)
    t.match(decision(), { 'guarded.reason': 'not-tls' })
  })

  await t.test('an IP-literal target without SNI is fine', async (t) => {
    const socket = await handshake(`127.0.0.1:${tlsOrigin.port}`, undefined)
    t.notOk(socket instanceof Error, String(socket))
    if (!(socket instanceof Error)) socket.destroy()
    t.match(decision(), { 'guarded.verdict': 'allow', 'server.address': '127.0.0.1' })
  })

  await t.test('a server-speaks-first protocol on a port not in tls_ports works', async (t) => {
    const tunnel = await openTunnel(t, stack.port, `api.test:${speaker.port}`)
    const banner = await readBytes(tunnel.socket, 11, tunnel.rest)
    t.equal(banner.toString(), '220 hello\r\n', 'the banner arrives while the proxy waits for the client')
    tunnel.socket.write('EHLO x\r\n')
    t.equal((await readBytes(tunnel.socket, 8)).toString(), 'EHLO x\r\n')
    tunnel.socket.destroy()
  })
})
