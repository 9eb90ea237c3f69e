/** How a webhook's HTTP answer is read: a decision for this approval, "later", or garbage that fails closed. */
import type { Verdict } from '../../policy/types.js'
import type { Scope } from './types.js'

/** What the webhook said, or what was wrong with it. */
export type WebhookAnswer =
  | { readonly kind: 'decide'; readonly decision: Verdict; readonly scope: Scope }
  | { readonly kind: 'later' }
  | { readonly kind: 'invalid'; readonly detail: string }

const SCOPES: readonly Scope[] = ['once', 'session', 'always']

/**
 * 200 must carry `{"approval_id", "decision", "scope"?}` for exactly this approval: an echo of the
 * id guards against a receiver answering for another request (a cache, a mixed-up queue). 202 means
 * "a person will settle it through the admin API". Anything else is an error, never a guess.
 */
export function readWebhookAnswer(status: number, body: string, approvalId: string): WebhookAnswer {
  if (status === 202) return { kind: 'later' }
  if (status !== 200) return invalid(`the webhook answered HTTP ${status} (expected 200 with a decision, or 202)`)
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return invalid(`the webhook's answer is not JSON: ${JSON.stringify(body.slice(0, 200))}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid("the webhook's answer is not a JSON object")
  const { approval_id: id, decision, scope = 'once' } = value as Record<string, unknown>
  if (id !== approvalId) return invalid(`the webhook answered for approval ${JSON.stringify(id)}, not ${approvalId}`)
  if (decision !== 'allow' && decision !== 'deny') return invalid(`the webhook's "decision" must be "allow" or "deny", got ${JSON.stringify(decision)}`)
  if (!SCOPES.includes(scope as Scope)) return invalid(`the webhook's "scope" must be one of ${SCOPES.join(', ')}, got ${JSON.stringify(scope)}`)
  return { kind: 'decide', decision, scope: scope as Scope }
}

function invalid(detail: string): WebhookAnswer {
  return { kind: 'invalid', detail }
}
