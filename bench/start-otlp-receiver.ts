/** A stand-in OpenTelemetry collector on loopback: takes every OTLP/HTTP trace export, keeps only counts. */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The receiver's base URL (for `--otlp-endpoint`) and what it has taken so far. */
export interface OtlpReceiver {
  readonly url: string
  /** Export requests and body bytes received on POST /v1/traces. */
  received(): { posts: number; bytes: number }
  stop(): Promise<void>
}

/** Starts the receiver on 127.0.0.1, port 0. It answers a full success, in the request's encoding, and never parses the spans. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  let posts = 0
  let bytes = 0
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end()
    req.on('data', (chunk: Buffer) => { bytes += chunk.length })
    req.on('end', () => {
      posts++
      // An empty ExportTraceServiceResponse: `{}` in JSON, no bytes at all in protobuf.
      if (req.headers['content-type'] === 'application/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: () => ({ posts, bytes }),
    stop: () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
