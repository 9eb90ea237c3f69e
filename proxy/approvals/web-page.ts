/**
 * The approver web page under `/approvals` on the admin listener, served only while `web` is a configured approver.
 * A browser signs in once with the admin token and gets an HttpOnly, SameSite=Strict cookie; every write also needs
 * the page's Origin and its per-session CSRF token. Every response is refused unless the Host names this listener.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AdminToken } from '../admin-token.js'
import { BodyError } from '../read-json-body.js'
import { settleApproval, streamApprovals } from './approvals-api.js'
import type { ApprovalRegistry } from './create-registry.js'
import { APP_SCRIPT } from './web-app-script.js'
import { APP_STYLE } from './web-app-style.js'
import { hostAllowed, originAllowed, send, SECURITY_HEADERS } from './web-guard.js'
import { loginHtml, pageHtml } from './web-html.js'
import { createWebSessions, type WebSession, type WebSessions } from './web-sessions.js'

/** What the page needs. */
export interface WebPageContext {
  readonly token: AdminToken
  readonly approvals: ApprovalRegistry
  /** Whether `web` is among the approvers in force now (a policy reload may change it). */
  enabled(): boolean
  /** The signed-in browsers; a fresh store when absent. */
  readonly sessions?: WebSessions
}

/** Serves a request under `/approvals`; returns false when the path is not the page's (or the page is off). */
export type WebPage = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>

type Handler = (req: IncomingMessage, res: ServerResponse, ctx: Required<WebPageContext>, id: string) => Promise<void> | void

const HTML = 'text/html; charset=utf-8'
/**
 * The sign-in form's page relaxes the referrer policy to `same-origin`: under `no-referrer` a browser sends
 * `Origin: null` on a form POST (Fetch, "append a request Origin header"), and the sign-in needs its real Origin.
 * The form posts only to itself and the page loads nothing from elsewhere, so no referrer can leave this origin.
 */
const LOGIN_PAGE = { 'content-type': HTML, 'referrer-policy': 'same-origin' }
const FORM_LIMIT = 4 * 1024

const ROUTES: readonly (readonly [method: string, pattern: RegExp, handler: Handler])[] = [
  ['GET', /^\/approvals$/, page],
  ['GET', /^\/approvals\/app\.js$/, (_req, res) => send(res, 200, APP_SCRIPT, { 'content-type': 'text/javascript; charset=utf-8' })],
  ['GET', /^\/approvals\/app\.css$/, (_req, res) => send(res, 200, APP_STYLE, { 'content-type': 'text/css; charset=utf-8' })],
  ['GET', /^\/approvals\/login$/, (_req, res, ctx) => send(res, 200, loginHtml(ctx.token.file), LOGIN_PAGE)],
  ['POST', /^\/approvals\/login$/, login],
  ['POST', /^\/approvals\/logout$/, (req, res, ctx) => write(req, res, ctx, (_s, key) => logout(req, res, ctx, key))],
  ['GET', /^\/approvals\/events$/, events],
  ['POST', /^\/approvals\/decide\/([^/]+)$/, (req, res, ctx, id) => write(req, res, ctx, () => decide(req, res, ctx, id))],
]

/** Creates the page's request handler. */
export function createWebPage(context: WebPageContext): WebPage {
  const ctx: Required<WebPageContext> = { ...context, sessions: context.sessions ?? createWebSessions() }
  return async (req, res, path) => {
    if ((path !== '/approvals' && !path.startsWith('/approvals/')) || !ctx.enabled()) return false
    if (!hostAllowed(req)) {
      send(res, 421, 'misdirected request: the approver page answers only to this listener\'s own address (127.0.0.1, localhost or [::1] with its port)\n')
      return true
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method
    const paths = ROUTES.filter(([, pattern]) => pattern.test(path))
    const route = paths.find(([m]) => m === method)
    if (route) await route[2](req, res, ctx, route[1].exec(path)?.[1] ?? '')
    else if (paths.length > 0) send(res, 405, 'method not allowed\n', { allow: paths.map(([m]) => m).join(', ') })
    else send(res, 404, 'not found\n')
    return true
  }
}

/** The page, or a redirect to the sign-in form. */
function page(req: IncomingMessage, res: ServerResponse, ctx: Required<WebPageContext>): void {
  const signedIn = ctx.sessions.fromRequest(req)
  if (!signedIn) return send(res, 303, 'sign in first: /approvals/login\n', { location: '/approvals/login' })
  send(res, 200, pageHtml(signedIn.session.csrf), { 'content-type': HTML })
}

/** Exchanges the admin token, posted once from the sign-in form, for a session cookie. */
async function login(req: IncomingMessage, res: ServerResponse, ctx: Required<WebPageContext>): Promise<void> {
  if (!originAllowed(req)) return send(res, 403, 'forbidden: sign in from the approver page itself (Origin must be this listener)\n')
  const token = await readFormField(req, 'token').catch(() => undefined)
  if (token === undefined || !ctx.token.check(`Bearer ${token.trim()}`)) {
    return send(res, 401, loginHtml(ctx.token.file, 'That is not the admin token.'), LOGIN_PAGE)
  }
  const { cookie, session } = ctx.sessions.create()
  const maxAge = Math.max(0, Math.floor((session.expiresAt - Date.now()) / 1000))
  // SameSite=Strict: no other site can make the browser send it; Path keeps it off the rest of the listener.
  const setCookie = `${ctx.sessions.cookieName(req.socket.localPort)}=${cookie}; HttpOnly; SameSite=Strict; Path=/approvals; Max-Age=${maxAge}`
  send(res, 303, 'signed in: /approvals\n', { location: '/approvals', 'set-cookie': setCookie })
}

/**
 * Guards a state-changing request: same Origin, a signed-in session, and its CSRF token in `X-Guarded-CSRF`.
 * The Origin check alone stops cross-site forms; the token also stops a page on another port of this host
 * (same site, so it would get the SameSite cookie) that cannot read the token from our page.
 */
async function write(req: IncomingMessage, res: ServerResponse, ctx: Required<WebPageContext>, run: (session: WebSession, key: string) => Promise<void> | void): Promise<void> {
  if (!originAllowed(req)) return send(res, 403, 'forbidden: Origin must be this listener\n')
  const signedIn = ctx.sessions.fromRequest(req)
  if (!signedIn) return send(res, 401, 'not signed in: /approvals/login\n')
  if (!ctx.sessions.csrfMatches(req, signedIn.session)) return send(res, 403, 'forbidden: missing or wrong X-Guarded-CSRF token\n')
  await run(signedIn.session, signedIn.key)
}

/** Settles an approval as `web`, with the JSON body the API takes. */
async function decide(req: IncomingMessage, res: ServerResponse, ctx: Required<WebPageContext>, rawId: string): Promise<void> {
  // A JSON content type cannot be sent cross-origin without a CORS preflight, which this listener never grants.
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) return send(res, 415, 'the body must be application/json\n')
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value)
  try {
    await settleApproval(req, res, ctx.approvals, decodeURIComponent(rawId), 'web')
  } catch (err) {
    if (err instanceof BodyError || err instanceof URIError) return send(res, 400, `${err.message}\n`)
    throw err
  }
}

/** Signs the browser out: the session ends (closing its event streams) and the cookie is cleared. */
function logout(req: IncomingMessage, res: ServerResponse, ctx: Required<WebPageContext>, key: string): void {
  ctx.sessions.end(key)
  send(res, 204, '', { 'set-cookie': `${ctx.sessions.cookieName(req.socket.localPort)}=; HttpOnly; SameSite=Strict; Path=/approvals; Max-Age=0` })
}

/** The registry's live stream for a signed-in browser (EventSource cannot send the bearer token); ends with the session. */
function events(req: IncomingMessage, res: ServerResponse, ctx: Required<WebPageContext>): void {
  const signedIn = ctx.sessions.fromRequest(req)
  if (!signedIn) return send(res, 401, 'not signed in: /approvals/login\n')
  const { session } = signedIn
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value)
  streamApprovals(req, res, ctx.approvals)
  const end = (): void => void res.end()
  const expiry = setTimeout(end, session.expiresAt - Date.now())
  expiry.unref()
  session.onEnd.add(end)
  res.once('close', () => {
    clearTimeout(expiry)
    session.onEnd.delete(end)
  })
}

/** Reads one field of a small `application/x-www-form-urlencoded` body. */
async function readFormField(req: IncomingMessage, name: string): Promise<string | undefined> {
  let text = ''
  for await (const chunk of req as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8')
    if (text.length > FORM_LIMIT) throw new BodyError(`the form is larger than ${FORM_LIMIT} bytes`)
  }
  return new URLSearchParams(text).get(name) ?? undefined
}
