/** Reads a small JSON request body with a size cap; API handlers get a value or a clear error. */
import type { IncomingMessage } from 'node:http'

/** A body that cannot be used: too large or not JSON. */
export class BodyError extends Error {
  readonly code = 'GUARDED_BAD_BODY'
}

/** Reads at most `limit` bytes and parses them as JSON (an empty body is `{}`). */
export async function readJsonBody(req: IncomingMessage, limit = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new BodyError(`the body is larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return {}
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new BodyError('the body is not valid JSON')
  }
}

/** Writes a JSON answer. */
export function sendJson(res: import('node:http').ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value) + '\n'
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
  res.end(body)
}

/** A prompt as the APIs accept it: `{"id": "...", "text": "..."}` with an id of at most 200 characters. */
export function parsePromptBody(value: unknown): { id: string; text?: string } | string {
  if (typeof value !== 'object' || value === null) return 'expected a JSON object {"id": "...", "text": "..."}'
  const { id, text } = value as Record<string, unknown>
  if (typeof id !== 'string' || id === '' || id.length > 200) return '"id" must be a non-empty string of at most 200 characters'
  if (text !== undefined && typeof text !== 'string') return '"text" must be a string when present'
  return { id, ...(text !== undefined && { text }) }
}
