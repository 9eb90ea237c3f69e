/** `guarded-proxy audit FILE` on an audit log a real proxy wrote: grouped by session and prompt, filtered, as JSON, and tolerant of a damaged line. */
import { appendFile, copyFile, readFile } from 'node:fs/promises'
import t from 'tap'
import { curl } from '../helpers/clients.js'
import { startEventsStack, waitForAudit } from '../helpers/events-stack.js'
import { startHttpOrigin } from '../helpers/origins.js'
import { runCli } from '../helpers/run-cli.js'

const get = (proxyUrl: string, url: string): Promise<unknown> => curl(['-x', proxyUrl, '-o', '/dev/null', url])

t.test('guarded-proxy audit', async (t) => {
  const origin = await startHttpOrigin(t)
  const stack = await startEventsStack(t, { auth: 'required', audit: {} })
  const alpha = await stack.createSession({ id: 'alpha' })
  const beta = await stack.createSession({ id: 'beta' })
  await stack.admin('PUT', '/v1/sessions/alpha/prompt', { id: 'fix-tests', text: 'make the tests pass' })
  await get(alpha.proxy_url, origin.url('/a1', 'origin.test'))
  await get(alpha.proxy_url, 'http://x.blocked.test/exfil')
  await get(beta.proxy_url, origin.url('/b1', 'origin.test'))
  await waitForAudit(stack.auditFile, (l) => l.filter((r) => r.type === 'close').length === 3, 'the first three')
  await new Promise((r) => setTimeout(r, 20))
  const middle = new Date().toISOString()
  await new Promise((r) => setTimeout(r, 20))
  await stack.admin('PUT', '/v1/sessions/alpha/prompt', { id: 'add-docs' })
  await get(alpha.proxy_url, 'http://unknown.test/')
  await get(beta.proxy_url, origin.url('/b2', 'origin.test'))
  await waitForAudit(stack.auditFile, (l) => l.filter((r) => r.type === 'close').length === 5, 'all five')
  const file = stack.auditFile

  t.test('the timeline groups by session, then prompt, in order', async (t) => {
    const { code, stdout, stderr } = await runCli(['audit', file])
    t.equal(code, 0, stderr)
    t.equal(stderr, '')
    const lines = stdout.trimEnd().split('\n')
    const heads = lines.filter((l) => !l.startsWith('    '))
    t.same(heads, ['session alpha', '  prompt fix-tests (from admin) "make the tests pass"', '  prompt add-docs (from admin)', 'session beta', '  (no prompt)'])
    const body = (after: string): string[] => lines.slice(lines.indexOf(after) + 1).filter((_l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('    ')))
    const fix = body('  prompt fix-tests (from admin) "make the tests pass"')
    t.equal(fix.length, 2)
    t.match(fix[0], new RegExp(`^    \\d{4}-\\d\\d-\\d\\dT\\S+Z  allow  GET origin\\.test:${origin.port}  allowed  rule origin\\.test:\\*$`))
    t.match(fix[1], / {2}deny {3}GET x\.blocked\.test:80 {2}blocked {2}rule \*\.blocked\.test$/)
    t.match(body('  prompt add-docs (from admin)'), [/deny {3}GET unknown\.test:80 {2}unknown/])
    t.equal(body('  (no prompt)').length, 2, 'beta made two requests')
  })

  t.test('--denied shows only refusals', async (t) => {
    const { stdout } = await runCli(['audit', file, '--denied'])
    t.notMatch(stdout, 'allow ')
    t.match(stdout, 'x.blocked.test:80')
    t.match(stdout, 'unknown.test:80')
    t.notMatch(stdout, 'session beta', 'beta was never refused')
  })

  t.test('--session picks one session', async (t) => {
    const { stdout } = await runCli(['audit', file, '--session', 'beta'])
    t.match(stdout, /^session beta\n/)
    t.notMatch(stdout, 'alpha')
    t.equal((await runCli(['audit', file, '--session', 'nobody'])).stdout, 'no matching records\n')
  })

  t.test('--since takes an ISO time or a duration', async (t) => {
    const { stdout } = await runCli(['audit', file, '--since', middle, '--json'])
    const entries = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    t.same(entries.map((e) => [e.session, e.destination]), [['alpha', 'unknown.test:80'], ['beta', `origin.test:${origin.port}`]])
    t.equal((await runCli(['audit', file, '--since', '1h', '--json'])).stdout.trim().split('\n').length, 5, 'the last hour: everything')
    t.equal((await runCli(['audit', file, '--since', new Date(Date.now() + 60_000).toISOString()])).stdout, 'no matching records\n')
    const bad = await runCli(['audit', file, '--since', 'yesterday-ish'])
    t.equal(bad.code, 2)
    t.match(bad.stderr, '--since yesterday-ish')
  })

  t.test('--json: one object per decision, joined with how it ended', async (t) => {
    const { stdout } = await runCli(['audit', file, '--json'])
    const entries = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    t.equal(entries.length, 5)
    t.match(entries[0], { session: 'alpha', prompt: 'fix-tests', promptSource: 'admin', promptText: 'make the tests pass', verdict: 'allow', reason: 'allowed', method: 'GET', rule: 'origin.test:*', outcome: 'completed', bytesReceived: Number })
    t.match(entries[1], { verdict: 'deny', reason: 'blocked', outcome: 'refused' })
    t.equal((await runCli(['audit', file, '--json', '--denied', '--session', 'beta'])).stdout, '', 'filters combine: beta was never refused')
    t.equal((await runCli(['audit', file, '--json', '--denied', '--session', 'alpha'])).stdout.trim().split('\n').length, 2)
  })

  t.test('a garbage line and a torn last line: the rest still prints, with a warning', async (t) => {
    const damaged = `${file}.damaged`
    await copyFile(file, damaged)
    const first = (await readFile(file, 'utf8')).split('\n')[0] ?? ''
    await appendFile(damaged, 'garbage from another program\n{"schema":"other/v1","type":"decision"}\n' + first.slice(0, 40))
    const { code, stdout, stderr } = await runCli(['audit', damaged])
    t.equal(code, 0)
    t.equal(stdout, (await runCli(['audit', file])).stdout, 'the same timeline as the clean file')
    t.match(stderr, 'skipped 3 line(s) that were not audit records')
  })

  t.test('usage errors', async (t) => {
    t.equal((await runCli(['audit'])).code, 2, 'no file')
    t.equal((await runCli(['audit', file, file])).code, 2, 'two files')
    t.equal((await runCli(['audit', file, '--bogus'])).code, 2, 'an unknown flag')
    const missing = await runCli(['audit', `${file}.missing`])
    t.not(missing.code, 0, 'a missing file fails')
    t.match(missing.stderr, 'ENOENT')
  })
})
