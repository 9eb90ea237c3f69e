/** `guarded-proxy prompt` as an agent's hook runs it: a child process with HTTP_PROXY, naming the prompt of its own session through the proxy. */
import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { curl } from '../helpers/clients.js'
import { startEventsStack, waitForAudit } from '../helpers/events-stack.js'
import { startHttpOrigin } from '../helpers/origins.js'
import { CLI } from '../helpers/run-cli.js'
import { tempDir } from '../helpers/temp-dir.js'

/** Runs `guarded-proxy prompt ARGS` with only PATH and the given proxy variables in its environment. */
function prompt(args: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'prompt', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d))
    child.once('exit', (code) => resolve({ code, stderr }))
    child.stdin.end(stdin)
  })
}

t.test('guarded-proxy prompt', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required', audit: {} })
  const session = await stack.createSession({ id: 'hooked' })
  const other = await stack.createSession({ id: 'other' })
  const dir = await tempDir(t, 'guarded-prompt-')
  // Each test requests its own path, so its decision record is found by path once the log has it.
  const request = async (proxyUrl: string, path: string): Promise<Record<string, unknown>> => {
    await curl(['-x', proxyUrl, '-o', '/dev/null', origin.url(path, 'origin.test')])
    const decided = (l: Record<string, unknown>): boolean => l.type === 'decision' && l['url.path'] === path
    const lines = await waitForAudit(stack.auditFile, (l) => l.some(decided), `request ${path}`)
    return lines.find(decided) ?? {}
  }

  t.test('--id through HTTP_PROXY names the prompt of the session in the proxy URL, source session', async (t) => {
    const res = await prompt(['--id', 'task-42'], { HTTP_PROXY: session.proxy_url })
    t.equal(res.code, 0, res.stderr)
    t.match(await request(session.proxy_url, '/after-id'), { 'session.id': 'hooked', 'guarded.prompt.id': 'task-42', 'guarded.prompt.source': 'session' })
    t.notOk((await request(other.proxy_url, '/other'))['guarded.prompt.id'], 'the other session is untouched')
  })

  t.test('lower-case http_proxy and --text-file', async (t) => {
    const text = join(dir, 'prompt.txt')
    await writeFile(text, 'Refactor the auth module.\nKeep the API.')
    const res = await prompt(['--id', 'task-43', '--text-file', text], { http_proxy: session.proxy_url })
    t.equal(res.code, 0, res.stderr)
    t.match(await request(session.proxy_url, '/after-text'), { 'guarded.prompt.id': 'task-43', 'guarded.prompt.text': 'Refactor the auth module.\nKeep the API.' })
  })

  t.test('--text-file - reads the text from stdin (a socket, as Node-spawned hooks get)', async (t) => {
    const res = await prompt(['--id', 'task-44', '--text-file', '-'], { HTTP_PROXY: session.proxy_url }, 'from stdin')
    t.equal(res.code, 0, res.stderr)
    t.match(await request(session.proxy_url, '/after-stdin'), { 'guarded.prompt.id': 'task-44', 'guarded.prompt.text': 'from stdin' })
  })

  t.test('--hook claude reads the hook JSON on stdin', async (t) => {
    const res = await prompt(['--hook', 'claude'], { HTTP_PROXY: session.proxy_url }, JSON.stringify({ session_id: 'cc-1', prompt: 'write the changelog' }))
    t.equal(res.code, 0, res.stderr)
    t.match(await request(session.proxy_url, '/after-hook'), { 'guarded.prompt.id': /^claude-[0-9a-z]+-[0-9a-f]{12}$/, 'guarded.prompt.text': 'write the changelog', 'guarded.prompt.source': 'session' })
  })

  t.test('failures exit non-zero and say why', async (t) => {
    const none = await prompt(['--id', 'x'], {})
    t.equal(none.code, 2)
    t.match(none.stderr, 'no HTTP_PROXY')
    const noId = await prompt([], { HTTP_PROXY: session.proxy_url })
    t.equal(noId.code, 2)
    t.match(noId.stderr, '--id is required')
    const wrong = await prompt(['--id', 'x'], { HTTP_PROXY: `http://hooked:wrong-token@127.0.0.1:${stack.port}` })
    t.equal(wrong.code, 2)
    t.match(wrong.stderr, 'the proxy answered 407')
    const tooLong = await prompt(['--id', 'p'.repeat(201)], { HTTP_PROXY: session.proxy_url })
    t.equal(tooLong.code, 2)
    t.match(tooLong.stderr, 'the proxy answered 400')
    t.equal((await prompt(['--hook', 'cursor'], { HTTP_PROXY: session.proxy_url })).code, 2, 'an unknown hook')
    const notJson = await prompt(['--hook', 'claude'], { HTTP_PROXY: session.proxy_url }, 'not json')
    t.equal(notJson.code, 2)
    t.match(notJson.stderr, 'not JSON')
    const listed = (await stack.admin('GET', '/v1/sessions')).json?.sessions as { id: string; prompt_id?: string }[]
    t.match(listed.find((s) => s.id === 'hooked')?.prompt_id, /^claude-/, 'none of the failures changed the prompt')
  })
})
