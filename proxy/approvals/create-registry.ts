/**
 * The approval registry: one approval per (session, host, port), every request for it parked on it,
 * settled by the first decision or failed closed on timeout, within fixed bounds.
 */
import { randomUUID } from 'node:crypto'
import type { ReasonCode } from '../../policy/reasons.js'
import type { Verdict } from '../../policy/types.js'
import type { ApprovalConfig } from '../../policy/approval-config.js'
import type { ApprovalDecision, ApprovalView, Risk, Scope, SettledApproval } from './types.js'

/** What is being asked for. */
export interface ApprovalQuery {
  readonly sessionId: string
  readonly promptId?: string
  readonly promptText?: string
  readonly host: string
  readonly port: number
}

/** How a parked request ended. */
export interface ApprovalOutcome {
  readonly verdict: Verdict
  readonly reason: ReasonCode
  readonly by?: string
  readonly scope?: Scope
  readonly latencyMs: number
  readonly detail?: string
}

/** What the auto-reviewer answered: a decision it may take itself, or an escalation to humans. */
export type Review = { readonly kind: 'decide'; readonly decision: Verdict; readonly risk: Risk; readonly rationale: string } | { readonly kind: 'escalate'; readonly risk: Risk; readonly rationale: string }

/** Registry events, for the approvers that show or forward approvals (web page, CLI watch, webhook). */
export type RegistryEvent = { readonly type: 'offered'; readonly approval: ApprovalView } | { readonly type: 'settled'; readonly approval: SettledApproval }

/** The registry's interface. */
export interface ApprovalRegistry {
  request(query: ApprovalQuery, signal: AbortSignal): Promise<ApprovalOutcome>
  list(): ApprovalView[]
  recent(): SettledApproval[]
  /** Settles a pending approval; undefined when there is none with that id (already settled or expired). */
  decide(id: string, decision: ApprovalDecision): SettledApproval | undefined
  /** Fails an approval closed (an approver errored); every waiter gets `approval-error`. */
  fail(id: string, by: string, detail: string): void
  endSession(sessionId: string): void
  subscribe(listener: (event: RegistryEvent) => void): () => void
  parkedCount(): number
}

interface Waiter {
  readonly resolve: (outcome: ApprovalOutcome) => void
  readonly started: number
}

interface Pending {
  readonly key: string
  readonly query: ApprovalQuery
  readonly id: string
  readonly firstSeen: number
  readonly waiters: Set<Waiter>
  readonly timer: NodeJS.Timeout
  review?: { risk: Risk; rationale: string }
}

/** Hooks the registry calls: the reviewer, and where `always` decisions are written. */
export interface RegistryHooks {
  /** Runs the auto-reviewer, or returns undefined when none is configured (humans are offered at once). */
  readonly review?: (view: ApprovalView) => Promise<Review> | undefined
  readonly persistAlways?: (query: ApprovalQuery, decision: ApprovalDecision) => Promise<void>
  readonly now?: () => number
}

const RECENT = 50
const keyOf = (q: { sessionId: string; host: string; port: number }): string => `${q.sessionId}\n${q.host}\n${q.port}`

/** Creates a registry for one proxy. */
export function createApprovalRegistry(config: () => ApprovalConfig, hooks: RegistryHooks = {}): ApprovalRegistry {
  const now = hooks.now ?? Date.now
  const pending = new Map<string, Pending>()
  const byId = new Map<string, Pending>()
  const grants = new Map<string, { decision: ApprovalDecision; scope: Scope }>() // session grants and once-leftovers
  const recent: SettledApproval[] = []
  const listeners = new Set<(event: RegistryEvent) => void>()
  let parked = 0
  const parkedBySession = new Map<string, number>()

  const emit = (event: RegistryEvent): void => listeners.forEach((l) => l(event))
  const view = (p: Pending): ApprovalView => ({
    id: p.id,
    session_id: p.query.sessionId,
    ...(p.query.promptId !== undefined && { prompt_id: p.query.promptId }),
    ...(p.query.promptText !== undefined && { prompt_text: p.query.promptText }),
    host: p.query.host,
    port: p.query.port,
    first_seen: new Date(p.firstSeen).toISOString(),
    waiting: p.waiters.size,
    expires_at: new Date(p.firstSeen + config().timeoutMs).toISOString(),
    ...(p.review && { review: p.review }),
  })
  const release = (p: Pending, outcome: (w: Waiter) => ApprovalOutcome): void => {
    clearTimeout(p.timer)
    pending.delete(p.key)
    byId.delete(p.id)
    for (const w of p.waiters) w.resolve(outcome(w))
    p.waiters.clear()
  }
  const settle = (p: Pending, decision: ApprovalDecision): SettledApproval => {
    const settled: SettledApproval = { ...view(p), decision: decision.decision, scope: decision.scope, by: decision.by, decided_at: new Date(now()).toISOString() }
    if (p.waiters.size === 0 || decision.scope === 'session') grants.set(p.key, { decision, scope: decision.scope })
    const reason: ReasonCode = decision.decision === 'allow' ? 'approved' : 'approval-denied'
    release(p, (w) => ({ verdict: decision.decision, reason, by: decision.by, scope: decision.scope, latencyMs: now() - w.started }))
    remember(settled)
    return settled
  }
  const remember = (settled: SettledApproval): void => {
    recent.push(settled)
    if (recent.length > RECENT) recent.shift()
    emit({ type: 'settled', approval: settled })
  }
  const failClosed = (p: Pending, reason: ReasonCode, by: string, detail: string): void => {
    const settled: SettledApproval = { ...view(p), decision: 'deny', scope: 'once', by, decided_at: new Date(now()).toISOString() }
    release(p, (w) => ({ verdict: 'deny', reason, by, latencyMs: now() - w.started, detail }))
    remember(settled)
  }
  const offer = (p: Pending): void => {
    const reviewing = hooks.review?.(view(p))
    if (!reviewing) return emit({ type: 'offered', approval: view(p) })
    reviewing.then(
      (review) => {
        if (!byId.has(p.id)) return
        if (review.kind === 'decide') return void settle(p, { decision: review.decision, scope: 'session', by: 'reviewer' })
        p.review = { risk: review.risk, rationale: review.rationale }
        if (config().approvers.length === 0) return failClosed(p, 'approval-required', 'reviewer', `the reviewer escalated (${review.risk}) and no human approver is configured`)
        emit({ type: 'offered', approval: view(p) })
      },
      (err: Error) => byId.has(p.id) && failClosed(p, 'approval-error', 'reviewer', `the reviewer failed: ${err.message}`),
    )
  }
  const count = (sessionId: string, delta: number): void => {
    parked += delta
    parkedBySession.set(sessionId, (parkedBySession.get(sessionId) ?? 0) + delta)
  }

  const registry: ApprovalRegistry = {
    request(query, signal) {
      const started = now()
      const key = keyOf(query)
      const grant = grants.get(key)
      if (grant) {
        if (grant.scope !== 'session') grants.delete(key)
        const { decision } = grant
        return Promise.resolve({ verdict: decision.decision, reason: decision.decision === 'allow' ? 'approved' : 'approval-denied', by: decision.by, scope: grant.scope, latencyMs: 0 })
      }
      const limits = config()
      const existing = pending.get(key)
      const sessionParked = parkedBySession.get(query.sessionId) ?? 0
      if (parked >= limits.maxPendingTotal || sessionParked >= limits.maxPendingPerSession || (!existing && pending.size >= limits.maxPendingTotal)) {
        return Promise.resolve({ verdict: 'deny', reason: 'approval-queue-full', latencyMs: 0, detail: `${sessionParked} requests of this session and ${parked} in all are already waiting` })
      }
      const p = existing ?? create(query, key)
      return new Promise<ApprovalOutcome>((resolve) => {
        const waiter: Waiter = {
          started,
          resolve: (outcome) => {
            count(query.sessionId, -1)
            signal.removeEventListener('abort', leave)
            resolve(outcome)
          },
        }
        // A client that gives up is dropped from the wait; the approval stays listed until its timeout.
        const leave = (): void => {
          if (p.waiters.delete(waiter)) waiter.resolve({ verdict: 'deny', reason: 'approval-timeout', latencyMs: now() - started, detail: 'the client went away' })
        }
        p.waiters.add(waiter)
        count(query.sessionId, 1)
        signal.addEventListener('abort', leave, { once: true })
        if (!existing) offer(p)
      })
    },
    list: () => [...pending.values()].map(view),
    recent: () => [...recent],
    decide(id, decision) {
      const p = byId.get(id)
      if (!p) return undefined
      if (decision.scope === 'always' && hooks.persistAlways) void hooks.persistAlways(p.query, decision)
      return settle(p, decision)
    },
    fail(id, by, detail) {
      const p = byId.get(id)
      if (p) failClosed(p, 'approval-error', by, detail)
    },
    endSession(sessionId) {
      for (const key of grants.keys()) if (key.startsWith(`${sessionId}\n`)) grants.delete(key)
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    parkedCount: () => parked,
  }

  function create(query: ApprovalQuery, key: string): Pending {
    const id = randomUUID()
    const timer = setTimeout(() => {
      const p = pending.get(key)
      if (p) failClosed(p, 'approval-timeout', 'timeout', `no decision within ${config().timeoutMs} ms`)
    }, config().timeoutMs)
    timer.unref()
    const p: Pending = { key, query, id, firstSeen: now(), waiters: new Set(), timer }
    pending.set(key, p)
    byId.set(id, p)
    return p
  }
  return registry
}
