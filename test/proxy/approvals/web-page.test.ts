/** The approver web page: end to end in headless Chromium against a running proxy, and its boundary over plain HTTP. */
import { readFile, rm } from 'node:fs/promises'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { chromium } from 'playwright-core'
import t, { type Test } from 'tap'
import { curl, type CurlResult } from '../../helpers/clients.js'
import { startHttpOrigin, type HttpOrigin } from '../../helpers/origins.js'
import { startStack, type Stack } from '../../helpers/start-stack.js'

const POLICY = ['version: 1', 'default: ask', 'allow_private:', '  - 127.0.0.0/8', ''].join('\n')
const PINS = { 'unknown.test': '127.0.0.1' }
const XSS = '<img src=x onerror=alert(1)>'
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** Chromium from Debian, told not to reach anything but what the test serves. */
const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
}

interface Answer {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** One request to the admin listener with exactly the headers given (Host included), over a real socket. */
function admin(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
    })
    req.once('error', reject)
    req.end(body)
  })
}

/** An event stream held open: its head and first event, and a promise that settles when the server ends it. */
function openStream(t: Test, port: number, cookie: string): Promise<Answer & { ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/approvals/events', headers: { host: `127.0.0.1:${port}`, cookie }, agent: false }, (res) => {
      const ended = new Promise<void>((done) => res.once('close', done))
      res.setEncoding('utf8')
      res.once('data', (chunk: string) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunk, ended }))
    })
    t.teardown(() => req.destroy())
    req.once('error', reject)
    req.end()
  })
}

/** A proxy with the web approver, an origin, and the admin token and address a browser needs. */
async function webStack(t: Test): Promise<{ stack: Stack; origin: HttpOrigin; adminPort: number; adminUrl: string; token: string }> {
  const origin = await startHttpOrigin(t)
  const stack = await startStack(t, { policy: POLICY, resolve: PINS, approval: { approvers: ['web'], timeoutMs: 30_000 } })
  const adminPort = stack.proxy.admin.port ?? 0
  const token = (await readFile(stack.proxy.adminToken.file, 'utf8')).trim()
  return { stack, origin, adminPort, adminUrl: `http://127.0.0.1:${adminPort}`, token }
}

/** Starts a client request that parks, and waits until the registry lists it (the client's result comes wrapped, unawaited). */
async function park(t: Test, stack: Stack, origin: HttpOrigin, path: string): Promise<{ client: Promise<CurlResult> }> {
  const client = curl(['--proxy', stack.url, '--write-out', '\n%{http_code}', origin.url(path, 'unknown.test')])
  t.teardown(() => client.then(() => undefined))
  for (let i = 0; i < 200 && stack.proxy.approvals.list().length === 0; i++) await sleep(25)
  t.equal(stack.proxy.approvals.list().length, 1, 'the request is parked')
  return { client }
}

/** Signs in over plain HTTP as the form would; returns the Cookie header and the page's CSRF token. */
async function signIn(port: number, token: string): Promise<{ cookie: string; csrf: string }> {
  const res = await admin(port, 'POST', '/approvals/login', { origin: `http://127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' }, `token=${encodeURIComponent(token)}`)
  const cookie = (res.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? ''
  const page = await admin(port, 'GET', '/approvals', { cookie })
  const csrf = /<meta name="guarded-csrf" content="([^"]+)">/.exec(page.body)?.[1] ?? ''
  return { cookie, csrf }
}

t.test('end to end in Chromium: an approval appears live, Allow once lets the parked client through', async (t) => {
  const { stack, origin, adminUrl, token } = await webStack(t)
  const prompt = `Fetch the docs ${XSS} and then ` + 'keep going with the refactor. '.repeat(12)
  const session = stack.proxy.sessions.get('default')
  if (session) session.prompt = { id: 'prompt-7', text: prompt, source: 'admin' }

  const browser = await chromium.launch(CHROMIUM)
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } })
  const page = await context.newPage()
  const elsewhere: string[] = []
  await context.route('**/*', (route) => (route.request().url().startsWith(adminUrl) ? route.continue() : (elsewhere.push(route.request().url()), route.abort())))
  const dialogs: string[] = []
  page.on('dialog', (dialog) => void (dialogs.push(dialog.message()), dialog.dismiss()))
  const cspViolations: string[] = []
  page.on('console', (message) => /Content Security Policy/i.test(message.text()) && cspViolations.push(message.text()))

  await page.goto(`${adminUrl}/approvals`)
  t.equal(page.url(), `${adminUrl}/approvals/login`, 'not signed in: the page sends the browser to the sign-in form')
  await page.fill('#token', token)
  await Promise.all([page.waitForURL(`${adminUrl}/approvals`), page.click('button[type=submit]')])
  await page.locator('#status', { hasText: 'live' }).waitFor({ timeout: 5_000 })
  t.ok(await page.locator('#pending-empty').isVisible(), 'nothing is waiting yet')
  await page.evaluate('window.sameDocument = true')

  const { client } = await park(t, stack, origin, '/approved')
  const card = page.locator('#pending .approval')
  await card.waitFor({ timeout: 5_000 })
  t.equal(await page.evaluate('window.sameDocument'), true, 'the approval appeared without a reload')
  t.equal(await card.locator('.host').textContent(), `unknown.test:${origin.port}`)
  t.match(await card.locator('.facts').textContent(), /Sessiondefault.*Prompt idprompt-7/s)
  t.match(await card.locator('.waiting').textContent(), /^1 waiting$/)
  t.match(await card.locator('.left').textContent(), /^\d+ s left$/)
  t.equal(await page.locator('#pending img').count(), 0, 'the prompt text made no element')
  const promptText = card.locator('.prompt-text')
  t.ok(await promptText.isVisible())
  t.match(await promptText.textContent(), `Fetch the docs ${XSS} and then`, 'the markup is shown as text')
  t.notOk((await promptText.textContent())?.includes('refactor. '.repeat(12)), 'a long prompt is truncated')
  await card.getByRole('button', { name: /^Show all/ }).click()
  t.equal(await promptText.textContent(), prompt, '"show all" shows every character')
  t.equal(await card.getByRole('button').count(), 7, 'six decision buttons and "show less"')

  const screenshot = join(tmpdir(), `guarded-web-page-${process.pid}.png`)
  await page.screenshot({ path: screenshot, fullPage: true })
  // Kept for a person to look at when asked (GUARDED_KEEP_SCREENSHOT=1); otherwise the run leaves nothing behind.
  if (process.env.GUARDED_KEEP_SCREENSHOT === '1') t.comment(`screenshot: ${screenshot}`)
  else t.teardown(() => rm(screenshot, { force: true }))

  await card.getByRole('button', { name: 'Allow once' }).click()
  const result = await client
  t.equal(result.code, 0, result.stderr)
  t.equal(result.stdout.toString(), 'origin saw GET /approved 0\n200', 'the parked client got the origin\'s answer')
  const decided = page.locator('#recent .decided')
  await decided.waitFor({ timeout: 5_000 })
  t.match(await decided.textContent(), /allow once.*unknown\.test.*session default, prompt prompt-7.*by web/s)
  t.equal(await card.count(), 0, 'the settled approval left the list')
  await stack.records.waitForCloses(1)
  t.match(stack.records.last(), { 'guarded.verdict': 'allow', 'guarded.approval.by': 'web', 'guarded.approval.scope': 'once' })
  t.same(dialogs, [], 'no script from the prompt ran')
  t.same(cspViolations, [], 'the page needs nothing its CSP forbids')
  t.same(elsewhere, [], 'the browser asked for nothing but the admin listener')
})

t.test('the page is served only while web is an approver', async (t) => {
  const stack = await startStack(t, { policy: POLICY, approval: { approvers: ['cli'] } })
  const res = await admin(stack.proxy.admin.port ?? 0, 'GET', '/approvals')
  t.equal(res.status, 404)
})

t.test('a Host that is not this listener is refused (DNS rebinding)', async (t) => {
  const { adminPort, token } = await webStack(t)
  const { cookie } = await signIn(adminPort, token)
  const refused = [
    ['attacker.test, re-pointed at 127.0.0.1', `attacker.test:${adminPort}`],
    ['a loopback name on another port', `127.0.0.1:${adminPort + 1}`],
    ['no port', '127.0.0.1'],
    ['a subdomain of localhost', `evil.localhost:${adminPort}`],
  ]
  for (const [why, host] of refused) {
    for (const path of ['/approvals', '/approvals/events', '/approvals/app.js']) {
      t.equal((await admin(adminPort, 'GET', path, { host: host ?? '', cookie })).status, 421, `${path}: ${why}`)
    }
    const login = await admin(adminPort, 'POST', '/approvals/login', { host: host ?? '', origin: `http://${host}`, 'content-type': 'application/x-www-form-urlencoded' }, `token=${token}`)
    t.equal(login.status, 421, `sign-in: ${why}`)
    t.notOk(login.headers['set-cookie'])
  }
  for (const host of [`localhost:${adminPort}`, `[::1]:${adminPort}`, `127.0.0.1:${adminPort}`, `LOCALHOST:${adminPort}`]) {
    t.equal((await admin(adminPort, 'GET', '/approvals', { host, cookie })).status, 200, `${host} is this listener`)
  }
})

t.test('without signing in, the page redirects and the stream and writes refuse', async (t) => {
  const { stack, origin, adminPort, token } = await webStack(t)
  const { client } = await park(t, stack, origin, '/not-yet')
  const id = stack.proxy.approvals.list()[0]?.id ?? ''
  const page = await admin(adminPort, 'GET', '/approvals')
  t.equal(page.status, 303)
  t.equal(page.headers.location, '/approvals/login')
  t.notMatch(page.body, /guarded-csrf/)
  t.equal((await admin(adminPort, 'GET', '/approvals/events')).status, 401)
  t.equal((await admin(adminPort, 'GET', '/approvals/events', { cookie: `guarded_approver_${adminPort}=made-up` })).status, 401)
  const own = { origin: `http://127.0.0.1:${adminPort}`, 'content-type': 'application/json' }
  t.equal((await admin(adminPort, 'POST', `/approvals/decide/${id}`, own, '{"decision":"allow"}')).status, 401)

  const form = { origin: `http://127.0.0.1:${adminPort}`, 'content-type': 'application/x-www-form-urlencoded' }
  const wrong = await admin(adminPort, 'POST', '/approvals/login', form, 'token=not-the-token-at-all')
  t.equal(wrong.status, 401)
  t.notOk(wrong.headers['set-cookie'], 'a wrong token gets no cookie')
  const foreign = await admin(adminPort, 'POST', '/approvals/login', { ...form, origin: 'http://attacker.test' }, `token=${encodeURIComponent(token)}`)
  t.equal(foreign.status, 403, 'signing in from another origin is refused, even with the token')
  t.notOk(foreign.headers['set-cookie'])
  const good = await admin(adminPort, 'POST', '/approvals/login', form, `token=${encodeURIComponent(token)}`)
  t.equal(good.status, 303)
  t.equal(good.headers.location, '/approvals')
  t.match(good.headers['set-cookie']?.[0], new RegExp(`^guarded_approver_${adminPort}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=/approvals; Max-Age=\\d+$`))

  t.equal(stack.proxy.approvals.list().length, 1, 'nothing above settled the approval')
  stack.proxy.approvals.decide(id, { decision: 'deny', scope: 'once', by: 'test' })
  await client
})

t.test('writes need the page\'s Origin and CSRF token; with both, the decision is recorded as by web', async (t) => {
  const { stack, origin, adminPort, token } = await webStack(t)
  const { cookie, csrf } = await signIn(adminPort, token)
  t.match(csrf, /^[A-Za-z0-9_-]{43}$/)
  const { client } = await park(t, stack, origin, '/csrf')
  const id = stack.proxy.approvals.list()[0]?.id ?? ''
  const own = `http://127.0.0.1:${adminPort}`
  const good = { cookie, origin: own, 'x-guarded-csrf': csrf, 'content-type': 'application/json' }
  const body = '{"decision":"allow","scope":"once"}'
  const forged: [string, Record<string, string>, number][] = [
    ['a foreign Origin', { ...good, origin: 'http://attacker.test' }, 403],
    ['Origin "null"', { ...good, origin: 'null' }, 403],
    ['another port of this host', { ...good, origin: `http://127.0.0.1:${adminPort + 1}` }, 403],
    ['no Origin', { cookie, 'x-guarded-csrf': csrf, 'content-type': 'application/json' }, 403],
    ['no CSRF token', { cookie, origin: own, 'content-type': 'application/json' }, 403],
    ['a wrong CSRF token', { ...good, 'x-guarded-csrf': csrf.slice(1) + 'A' }, 403],
    ['no cookie', { origin: own, 'x-guarded-csrf': csrf, 'content-type': 'application/json' }, 401],
    ['a form\'s content type', { ...good, 'content-type': 'text/plain' }, 415],
  ]
  for (const [why, headers, status] of forged) {
    const res = await admin(adminPort, 'POST', `/approvals/decide/${id}`, headers, body)
    t.equal(res.status, status, why)
    t.equal(res.headers['content-security-policy'], CSP, `${why}: refusals carry the headers too`)
  }
  t.equal(stack.proxy.approvals.list().length, 1, 'no forged request settled the approval')

  const res = await admin(adminPort, 'POST', `/approvals/decide/${id}`, good, body)
  t.equal(res.status, 200, res.body)
  t.match(JSON.parse(res.body), { id, decision: 'allow', scope: 'once', by: 'web' })
  t.equal(res.headers['x-frame-options'], 'DENY')
  const result = await client
  t.equal(result.stdout.toString(), 'origin saw GET /csrf 0\n200', result.stderr)
  await stack.records.waitForCloses(1)
  t.match(stack.records.last(), { 'guarded.approval.by': 'web' })
  t.equal((await admin(adminPort, 'POST', `/approvals/decide/${id}`, good, body)).status, 404, 'a settled approval cannot be settled again')
})

t.test('every response carries the CSP, framing and caching headers; signing out ends the session', async (t) => {
  const { adminPort, token } = await webStack(t)
  const { cookie, csrf } = await signIn(adminPort, token)
  const expected = { 'content-security-policy': CSP, 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' }
  const page = await admin(adminPort, 'GET', '/approvals', { cookie })
  t.equal(page.status, 200)
  t.match(page.headers, { ...expected, 'content-type': 'text/html; charset=utf-8' })
  t.notMatch(page.body, /<script(?![^>]*\ssrc=)/, 'no inline script')
  t.notMatch(page.body, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler')
  t.match(await admin(adminPort, 'GET', '/approvals/login'), { status: 200, headers: { ...expected, 'referrer-policy': 'same-origin' } }, 'the sign-in form keeps its Origin on POST')
  t.match(await admin(adminPort, 'GET', '/approvals/app.js'), { status: 200, headers: { ...expected, 'content-type': 'text/javascript; charset=utf-8' } })
  t.match(await admin(adminPort, 'GET', '/approvals/app.css'), { status: 200, headers: { ...expected, 'content-type': 'text/css; charset=utf-8' } })
  const stream = await openStream(t, adminPort, cookie)
  t.match(stream, { status: 200, headers: { ...expected, 'content-type': 'text/event-stream' } })
  t.match(stream.body, /^event: snapshot\ndata: \{"pending":\[\],"recent":\[\]\}/)

  const own = { cookie, origin: `http://127.0.0.1:${adminPort}` }
  t.equal((await admin(adminPort, 'POST', '/approvals/logout', own)).status, 403, 'signing out needs the CSRF token too')
  const out = await admin(adminPort, 'POST', '/approvals/logout', { ...own, 'x-guarded-csrf': csrf })
  t.equal(out.status, 204)
  t.match(out.headers['set-cookie']?.[0], /Max-Age=0/)
  await stream.ended
  t.pass('signing out ended the open event stream')
  t.equal((await admin(adminPort, 'GET', '/approvals', { cookie })).status, 303, 'the old cookie no longer signs in')
  t.equal((await admin(adminPort, 'GET', '/approvals/events', { cookie })).status, 401)
})

t.test('closing the proxy ends open page streams instead of waiting for the browser', async (t) => {
  const { stack, adminPort, token } = await webStack(t)
  const { cookie } = await signIn(adminPort, token)
  const stream = await openStream(t, adminPort, cookie)
  t.equal(stream.status, 200)
  const closed = await Promise.race([stack.proxy.close().then(() => 'closed'), sleep(3_000).then(() => 'still open after 3 s')])
  t.equal(closed, 'closed')
  await stream.ended
})
