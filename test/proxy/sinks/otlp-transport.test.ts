/**
 * The span sink's requests to the collector (proxy/sinks/otlp-transport.ts) against real collectors:
 * retries, the timeout, oversized answers, gzip, and TLS with the collector's own CA and our client certificate.
 */
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import { mintLeaf } from '../../../certs/index.js'
import { makeCa } from '../../helpers/tls-stack.js'
import { spansOf, startOtlpReceiver, type ReceivedSpan } from './otlp-receiver.js'
import { ended, start, startHeldCollector } from './span-sinks.js'

t.test('an export the collector turns away for now (503, 429) is sent again, and nothing is lost', async (t) => {
  const receiver = await startOtlpReceiver(t, [503, 429])
  const spans = start(t, { endpoint: receiver.url, env: {} })
  ended(spans, 'again')
  await spans.flush()
  const bodies = receiver.requests.map((r) => r.raw)
  t.equal(bodies.length, 3, 'the first try, and one more for each refusal')
  t.ok(bodies.every((b) => b.equals(bodies[0]!)), 'the same batch each time')
  t.same(receiver.spans().map((span) => span.attributes['record.id']), ['again', 'again', 'again'])
  t.equal(spans.dropped(), 0)
})

t.test('an export the collector never answers is given up at OTEL_EXPORTER_OTLP_TIMEOUT, and counted', async (t) => {
  const collector = await startHeldCollector(t)
  const spans = start(t, { endpoint: collector.url, env: { OTEL_EXPORTER_OTLP_TIMEOUT: '300' } })
  ended(spans, 'late')
  const began = Date.now()
  await t.rejects(spans.flush(), { name: 'TimeoutError' }, 'the flush reports the export it gave up')
  t.ok(Date.now() - began < 5_000, 'without waiting for the collector')
  t.equal(collector.held(), 1, 'the export reached the collector')
  t.equal(spans.dropped(), 1)
})

t.test('a collector that keeps answering 503 is given up at the timeout, not after the next wait to retry', async (t) => {
  const receiver = await startOtlpReceiver(t, Array<number>(10).fill(503))
  const spans = start(t, { endpoint: receiver.url, env: { OTEL_EXPORTER_OTLP_TIMEOUT: '300' } })
  ended(spans, 'refused')
  const began = Date.now()
  await t.rejects(spans.flush(), { name: 'TimeoutError', message: /did not take the export within 300 ms/ })
  t.ok(Date.now() - began < 900, `given up before the first retry was due at 1 s (${Date.now() - began} ms)`)
  t.equal(spans.dropped(), 1)
  await new Promise((r) => setTimeout(r, 1_200))
  t.equal(receiver.requests.length, 1, 'and the retry that was waiting never went out')
})

t.test('an answer too large to be a collector\'s is refused, and its spans counted', async (t) => {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(Buffer.alloc(5 * 1024 * 1024, 0x20)))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const spans = start(t, { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, env: {} })
  ended(spans, 'flooded')
  await t.rejects(spans.flush(), { message: /the collector's answer passed 4194304 bytes/ })
  t.equal(spans.dropped(), 1)
})

t.test('OTEL_EXPORTER_OTLP_COMPRESSION=gzip sends the export gzipped', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const spans = start(t, { endpoint: receiver.url, env: { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' } })
  ended(spans, 'packed')
  await spans.flush()
  t.equal(receiver.requests[0]?.headers['content-encoding'], 'gzip')
  t.same(receiver.spans().map((s) => s.attributes['record.id']), ['packed'], 'and the collector reads the spans out of it')
})

t.test('a TLS collector: its CA from OTEL_EXPORTER_OTLP_CERTIFICATE, our client certificate from ..._CLIENT_*', async (t) => {
  const ca = await makeCa(t, 'otlp')
  const serverLeaf = await mintLeaf(ca.ca, '127.0.0.1', 4, new Date())
  const clientLeaf = await mintLeaf(ca.ca, 'guarded-client', 'name', new Date())
  await writeFile(join(ca.dir, 'client.pem'), clientLeaf.cert)
  await writeFile(join(ca.dir, 'client-key.pem'), clientLeaf.key)
  const seen: { spans: ReceivedSpan[]; client?: string }[] = []
  const server = createTlsServer({ cert: serverLeaf.cert, key: serverLeaf.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      seen.push({ spans: spansOf(req.headers['content-type'], Buffer.concat(chunks)), client: String((req.socket as TLSSocket).getPeerCertificate().subject?.CN) })
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`

  const untrusting = start(t, { endpoint: url, env: {} })
  ended(untrusting, 'unverified')
  await t.rejects(untrusting.flush(), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
  t.equal(seen.length, 0, 'without the CA the collector is not trusted, and nothing is sent')
  t.equal(untrusting.dropped(), 1)

  const trusting = start(t, { endpoint: url, env: { OTEL_EXPORTER_OTLP_CERTIFICATE: ca.certFile, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: join(ca.dir, 'client.pem'), OTEL_EXPORTER_OTLP_CLIENT_KEY: join(ca.dir, 'client-key.pem') } })
  ended(trusting, 'verified')
  await trusting.flush()
  t.equal(seen.length, 1)
  t.same(seen[0]?.spans.map((span) => span.attributes['record.id']), ['verified'])
  t.equal(seen[0]?.client, 'guarded-client', 'the collector saw our client certificate')
  t.equal(trusting.dropped(), 0)
})
