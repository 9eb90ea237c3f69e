/**
 * `guarded-proxy prompt --id PID [--text-file F]`: names the prompt the agent is working on, from inside
 * the sandbox, through the proxy to `guarded.internal` (the connection itself identifies the session).
 * `--hook claude` reads Claude Code's UserPromptSubmit hook input from stdin instead.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { request } from 'node:http'
import { parseArgs } from 'node:util'

const USAGE = `usage: guarded-proxy prompt --id PID [--text-file FILE|-]
       guarded-proxy prompt --hook claude      (reads the hook's JSON on stdin)

Sends the prompt to the proxy named by HTTP_PROXY (or http_proxy), as guarded-run sets it.
`

/** Sets the session's current prompt; exits non-zero with the reason when it cannot. */
export async function promptCommand(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values
  try {
    values = parseArgs({ args: [...args], options: { id: { type: 'string' }, 'text-file': { type: 'string' }, hook: { type: 'string' } } }).values
  } catch (err) {
    process.stderr.write(`guarded-proxy prompt: ${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const proxy = env.HTTP_PROXY ?? env.http_proxy
  if (!proxy) return fail('no HTTP_PROXY in the environment: run this inside guarded-run, or set HTTP_PROXY to the proxy URL')
  const prompt = values.hook !== undefined ? await fromHook(values.hook) : await fromFlags(values.id, values['text-file'])
  if (typeof prompt === 'string') return fail(prompt)
  const answer = await putPrompt(new URL(proxy), prompt)
  if (answer.status !== 200) return fail(`the proxy answered ${answer.status}: ${answer.body.trim()}`)
  return 0
}

function fail(message: string): number {
  process.stderr.write(`guarded-proxy prompt: ${message}\n`)
  return 2
}

async function fromFlags(id: string | undefined, textFile: string | undefined): Promise<{ id: string; text?: string } | string> {
  if (!id) return `--id is required\n${USAGE}`
  if (textFile === undefined) return { id }
  return { id, text: textFile === '-' ? await readStdin() : await readFile(textFile, 'utf8') }
}

/** Reads all of stdin as a stream: opening `/dev/stdin` fails (ENXIO) when it is a socket, as Node's `spawn` pipes are. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Claude Code passes `{"prompt": "...", "session_id": "...", ...}`; the prompt ID is derived from its text and time. */
async function fromHook(kind: string): Promise<{ id: string; text?: string } | string> {
  if (kind !== 'claude') return `--hook ${kind}: only "claude" is known`
  let input: { prompt?: unknown } | null
  try {
    input = JSON.parse(await readStdin()) as { prompt?: unknown } | null
  } catch {
    return 'the hook input on stdin is not JSON'
  }
  if (typeof input?.prompt !== 'string') return 'the hook input has no "prompt" string'
  const digest = createHash('sha256').update(input.prompt).digest('hex').slice(0, 12)
  return { id: `claude-${Date.now().toString(36)}-${digest}`, text: input.prompt }
}

function putPrompt(proxy: URL, prompt: { id: string; text?: string }): Promise<{ status: number; body: string }> {
  const body = JSON.stringify(prompt)
  const headers: Record<string, string> = { host: 'guarded.internal', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
  if (proxy.username) headers['proxy-authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`
  return new Promise((resolve, reject) => {
    const req = request({ host: proxy.hostname.replace(/^\[|\]$/g, ''), port: Number(proxy.port || 80), method: 'PUT', path: 'http://guarded.internal/v1/prompt', headers }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}
