/**
 * Method and path rules for plain-HTTP requests: a rule with `paths` covers port 80 too, so `http://host/other`
 * must not slip past what HTTPS inspection enforces. Credentials are never injected in cleartext.
 */
import type { IncomingMessage } from 'node:http'
import { canonicalPath } from '../policy/canonical-path.js'
import { decideRequest, needsInspection } from '../policy/decide-request.js'
import type { Destination, Policy } from '../policy/types.js'
import type { ConnectionRecord } from './record.js'
import type { RefusalContext } from './refuse.js'
import type { ReasonCode } from '../policy/reasons.js'

/** The path to forward (canonical when rules applied), or a refusal value. */
export type PlainCheck = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: ReasonCode; readonly context: RefusalContext }

/** Records the request's path, and applies the host's method and path rules when it has any. */
export function checkPlainRequest(policy: Policy, destination: Destination, req: IncomingMessage, path: string, record: ConnectionRecord): PlainCheck {
  const query = path.indexOf('?')
  record.path = query < 0 ? path : path.slice(0, query)
  if (!needsInspection(policy, destination)) return { ok: true, path }
  const canonical = canonicalPath(path)
  if (!canonical.ok) return { ok: false, reason: 'bad-request', context: { destination, detail: `the path cannot be matched safely: ${canonical.problem}` } }
  record.path = canonical.path
  const decision = (record.decision = decideRequest(policy, destination, { method: req.method ?? '', path: canonical.path }))
  if (decision.action !== 'allow') return { ok: false, reason: decision.reason, context: { destination, ...(decision.rule && { rule: decision.rule }), detail: `${req.method} ${canonical.path}` } }
  return { ok: true, path: query < 0 ? canonical.path : canonical.path + path.slice(query) }
}
