/**
 * The webhook approver: every approval offered to humans is POSTed, signed, to `approval.webhook.url`.
 * The receiver decides at once (200) or later through the admin API (202); anything else fails closed.
 */
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Agent } from 'undici'
import type { ApprovalConfig, WebhookConfig } from '../../policy/approval-config.js'
import type { Logger } from '../logger.js'
import type { ApprovalRegistry } from './create-registry.js'
import { signWebhook } from './sign-webhook.js'
import type { ApprovalView } from './types.js'
import { readWebhookAnswer, type WebhookAnswer } from './webhook-answer.js'

/** What the approver needs; `config` is read per approval, so a policy reload takes effect at once. */
export interface WebhookApproverOptions {
  readonly registry: ApprovalRegistry
  readonly config: () => ApprovalConfig
  /** Where the secret named by `secret_env` is read from. */
  readonly env: NodeJS.ProcessEnv
  readonly logger?: Logger
  /** Base URL of the admin listener (when on TCP), sent so a receiver that answered 202 knows where to settle. */
  readonly adminUrl?: () => string | undefined
  readonly now?: () => number
}

/** A running webhook approver. */
export interface WebhookApprover {
  /** Stops offering, cuts deliveries in flight (their approvals fail closed) and closes connections. */
  close(): Promise<void>
}

/** The POST body, version 1 of the contract. */
export interface WebhookDelivery {
  readonly type: 'approval.requested'
  /** Also in `X-Guarded-Delivery`; here it is signed, so a receiver can de-duplicate on it. */
  readonly delivery_id: string
  readonly approval: ApprovalView
  /** `POST {"decision","scope"}` here with an admin token to settle after a 202. */
  readonly admin_url?: string
}

/** An answer is one small JSON object; a receiver streaming more is broken. */
const MAX_ANSWER = 64 * 1024

/** Subscribes to the registry and delivers each offered approval while `webhook` is among the approvers. */
export function startWebhookApprover(options: WebhookApproverOptions): WebhookApprover {
  const { registry, logger } = options
  const now = options.now ?? Date.now
  // undici loads on the first delivery: most proxies never call a webhook, and guarded-run starts faster.
  let client: Promise<{ agent: Agent; request: typeof import('undici').request }> | undefined
  const undici = (): Promise<{ agent: Agent; request: typeof import('undici').request }> =>
    (client ??= import('undici').then((u) => ({ agent: new u.Agent({ keepAliveTimeout: 10_000 }), request: u.request })))
  const inflight = new Set<AbortController>()
  let closed = false

  const initial = options.config()
  const problem = initial.approvers.includes('webhook') ? webhookTarget(initial, options.env) : undefined
  if (typeof problem === 'string') logger?.error({ problem }, 'the webhook approver is not usable; approvals offered to it fail closed')

  const failClosed = (id: string, detail: string): void => {
    logger?.warn({ approval_id: id, detail }, 'the webhook approver failed; the approval fails closed')
    registry.fail(id, 'webhook', detail)
  }
  const deliver = async (approval: ApprovalView, config: ApprovalConfig): Promise<void> => {
    const target = webhookTarget(config, options.env)
    if (typeof target === 'string') return failClosed(approval.id, target)
    const answer = await exchange(target.webhook, target.secret, approval)
    if (answer.kind === 'invalid') return failClosed(approval.id, answer.detail)
    if (answer.kind === 'later') return
    const settled = registry.decide(approval.id, { decision: answer.decision, scope: answer.scope, by: 'webhook' })
    if (!settled) logger?.info({ approval_id: approval.id }, 'the webhook decided an approval that was already settled')
  }
  const exchange = async (webhook: WebhookConfig, secret: string, approval: ApprovalView): Promise<WebhookAnswer> => {
    const deliveryId = randomUUID()
    const admin = options.adminUrl?.()
    const payload: WebhookDelivery = { type: 'approval.requested', delivery_id: deliveryId, approval, ...(admin && { admin_url: `${admin}/v1/approvals/${encodeURIComponent(approval.id)}` }) }
    const body = JSON.stringify(payload)
    const timestamp = Math.floor(now() / 1000)
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, webhook.timeoutMs)
    inflight.add(controller)
    try {
      const { agent, request } = await undici()
      const res = await request(webhook.url, {
        method: 'POST',
        dispatcher: agent,
        signal: controller.signal,
        headers: { 'content-type': 'application/json', 'user-agent': 'guarded-proxy', 'x-guarded-timestamp': String(timestamp), 'x-guarded-signature': signWebhook(secret, timestamp, body), 'x-guarded-delivery': deliveryId },
        body,
      })
      const text = await readBounded(res.body, MAX_ANSWER)
      if (text === undefined) return { kind: 'invalid', detail: `the webhook's answer is larger than ${MAX_ANSWER} bytes` }
      return readWebhookAnswer(res.statusCode, text, approval.id)
    } catch (err) {
      if (timedOut) return { kind: 'invalid', detail: `the webhook did not answer within ${webhook.timeoutMs} ms` }
      if (closed) return { kind: 'invalid', detail: 'the proxy shut down while the webhook was asked' }
      return { kind: 'invalid', detail: `the webhook at ${safeOrigin(webhook.url)} is unreachable: ${describe(err)}` }
    } finally {
      clearTimeout(timer)
      inflight.delete(controller)
    }
  }

  const unsubscribe = registry.subscribe((event) => {
    if (closed || event.type !== 'offered') return
    const config = options.config()
    if (!config.approvers.includes('webhook')) return
    // Deferred, so a synchronous failure never settles the approval before the other listeners saw it offered.
    queueMicrotask(() => void deliver(event.approval, config).catch((err: Error) => failClosed(event.approval.id, `the webhook approver failed: ${err.message}`)))
  })
  return {
    async close() {
      closed = true
      unsubscribe()
      inflight.forEach((c) => c.abort())
      if (client) await (await client).agent.destroy()
    },
  }
}

/** The webhook and its secret, or why it cannot be used (a missing secret must never mean "unsigned"). */
function webhookTarget(config: ApprovalConfig, env: NodeJS.ProcessEnv): { webhook: WebhookConfig; secret: string } | string {
  if (!config.webhook) return 'approval.approvers lists webhook, but approval.webhook (url, secret_env) is not configured'
  const secret = env[config.webhook.secretEnv]
  if (!secret) return `the webhook secret variable ${config.webhook.secretEnv} is not set or empty, so the webhook is not used`
  return { webhook: config.webhook, secret }
}

/** Reads at most `limit` bytes; undefined (and the stream destroyed) when there is more. */
async function readBounded(body: Readable, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) {
      body.destroy()
      return undefined
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The URL without credentials, path or query, which may hold tokens and end up in logs and refusals. */
function safeOrigin(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return 'the configured URL'
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
  return [e.code ?? e.cause?.code, e.message ?? String(err)].filter(Boolean).join(' ')
}
