/** What the plain-HTTP suites share: the policy, pinned names, and clients that note each decision header they see. */
import { Readable } from 'node:stream'
import type { Socket } from 'node:net'
import type { Test } from 'tap'
import { ProxyAgent } from 'undici'
import { parseResponse, rawRequest, readUntilQuiet, type RawResponse } from '../helpers/raw-client.js'

export const POLICY = `version: 1
default: deny
allow:
  - "origin.test:*"
block:
  - "*.pastebin.com"
allow_private:
  - 127.0.0.0/8
`
export const PINS = { 'origin.test': '127.0.0.1', 'evil.pastebin.com': '127.0.0.1', 'unknown.test': '127.0.0.1' }
export const FIVE_MB = 5 * 1024 * 1024

/** Every X-Guarded-Decision value a response in this suite carried. */
export const decisionsSeen = new Set<string>()
export function saw(headers: Record<string, string | string[] | undefined>): void {
  const value = headers['x-guarded-decision']
  if (typeof value === 'string') decisionsSeen.add(value)
}

/** A raw request on a fresh connection, remembering its decision header. */
export async function raw(port: number, bytes: string): Promise<RawResponse> {
  const res = await rawRequest(port, bytes)
  saw(res.headers)
  return res
}

/** One request on an open connection; returns the response read until the proxy goes quiet. */
export async function exchange(socket: Socket, bytes: string, quietMs = 200): Promise<RawResponse> {
  socket.write(bytes)
  const res = parseResponse(await readUntilQuiet(socket, quietMs))
  saw(res.headers)
  return res
}

export function agentFor(t: Test, proxyUrl: string): ProxyAgent {
  // proxyTunnel: false makes undici send absolute-form requests for http:// URLs instead of CONNECT.
  const agent = new ProxyAgent({ uri: proxyUrl, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  return agent
}

/** `bytes` of 'z' in 64 KiB pieces, as a stream of unknown length (so the body goes chunked). */
export function streamOf(bytes: number): Readable {
  return Readable.from((function* () {
    for (let left = bytes; left > 0; left -= 65536) yield Buffer.alloc(Math.min(left, 65536), 'z')
  })())
}
