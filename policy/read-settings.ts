/** Readers for the mapping-valued settings (`approval:`, `audit:`), each field checked with a fix. */
import { isMap, isScalar, isSeq, type Node } from 'yaml'
import type { ApprovalConfig, HumanApprover, ReviewerConfig, Risk, WebhookConfig } from './approval-config.js'
import { parseDuration } from './parse-duration.js'
import type { AuditSettings } from './types.js'

/** Where a setting reader reports a problem: the node it is about, a message and a fix. */
export type Report = (node: Node | null, message: string, fix: string) => void

type Fields = Map<string, Node | null>

const APPROVERS: readonly HumanApprover[] = ['api', 'cli', 'web', 'webhook']
const RISKS: readonly Risk[] = ['low', 'medium', 'high', 'critical']

/** Reads `approval:`; unknown fields and bad values are reported, good ones kept. */
export function readApproval(value: Node | null, report: Report): Partial<ApprovalConfig> {
  const fields = mapping(value, 'approval', ['timeout', 'max_pending', 'max_pending_total', 'approvers', 'webhook', 'reviewer'], report)
  const out: { -readonly [K in keyof ApprovalConfig]?: ApprovalConfig[K] } = {}
  setIf(out, 'timeoutMs', duration(fields, 'timeout', report))
  setIf(out, 'maxPendingPerSession', count(fields, 'max_pending', report))
  setIf(out, 'maxPendingTotal', count(fields, 'max_pending_total', report))
  setIf(out, 'approvers', words(fields, 'approvers', APPROVERS, report))
  if (fields.has('webhook')) setIf(out, 'webhook', readWebhook(fields.get('webhook') ?? null, report))
  if (fields.has('reviewer')) setIf(out, 'reviewer', readReviewer(fields.get('reviewer') ?? null, report))
  return out
}

/** Reads `audit:` (what to do when the audit log cannot keep up, and prompt text redaction). */
export function readAudit(value: Node | null, report: Report): AuditSettings {
  const fields = mapping(value, 'audit', ['on_full', 'redact_prompt_text'], report)
  const out: { onFull?: 'block' | 'drop'; redactPromptText?: boolean } = {}
  const onFull = scalar(fields, 'on_full')
  if (onFull === 'block' || onFull === 'drop') out.onFull = onFull
  else if (onFull !== undefined) report(fields.get('on_full') ?? null, "'audit.on_full' must be block or drop", 'block (the default) refuses new connections rather than leave them unrecorded; drop is an explicit opt-out')
  const redact = scalar(fields, 'redact_prompt_text')
  if (typeof redact === 'boolean') out.redactPromptText = redact
  else if (redact !== undefined) report(fields.get('redact_prompt_text') ?? null, "'audit.redact_prompt_text' must be true or false", 'write true to keep prompt text out of the audit log')
  return out
}

function readWebhook(value: Node | null, report: Report): WebhookConfig | undefined {
  const fields = mapping(value, 'approval.webhook', ['url', 'secret_env', 'timeout'], report)
  const url = scalar(fields, 'url')
  const secretEnv = scalar(fields, 'secret_env')
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) return void report(fields.get('url') ?? value, "'approval.webhook.url' must be an http(s) URL", 'write url: https://approvals.example.com/guarded')
  if (typeof secretEnv !== 'string' || !/^[A-Z_][A-Z0-9_]*$/.test(secretEnv)) {
    return void report(fields.get('secret_env') ?? value, "'approval.webhook.secret_env' must name an environment variable", 'write secret_env: GUARDED_WEBHOOK_SECRET, and set that variable for the proxy (the secret never goes in the file)')
  }
  return { url, secretEnv, timeoutMs: duration(fields, 'timeout', report) ?? 10_000 }
}

function readReviewer(value: Node | null, report: Report): ReviewerConfig | undefined {
  const fields = mapping(value, 'approval.reviewer', ['command', 'approve', 'timeout'], report)
  const commandNode = fields.get('command') ?? null
  const command = isScalar(commandNode) && commandNode.value === 'builtin' ? 'builtin' : isSeq(commandNode) ? commandNode.items.map((i) => (isScalar(i) ? String(i.value) : '')) : undefined
  if (command === undefined || (command !== 'builtin' && (command.length === 0 || command.includes('')))) {
    return void report(commandNode ?? value, "'approval.reviewer.command' must be builtin or a list of strings", 'write command: builtin, or command: ["/usr/local/bin/review", "--json"]')
  }
  return { command, approveRisks: words(fields, 'approve', RISKS.filter((r) => r !== 'critical'), report) ?? ['low'], timeoutMs: duration(fields, 'timeout', report) ?? 10_000 }
}

function mapping(value: Node | null, name: string, known: readonly string[], report: Report): Fields {
  const fields: Fields = new Map()
  if (!isMap(value)) {
    report(value, `'${name}' must be a mapping`, `write the fields of '${name}' indented below it, e.g. "  ${known[0]}: …"`)
    return fields
  }
  for (const pair of value.items) {
    const key = pair.key as Node
    const field = isScalar(key) ? String(key.value) : ''
    if (known.includes(field)) fields.set(field, pair.value as Node | null)
    else report(key, `unknown field '${name}.${field}'`, `known fields are ${known.join(', ')}`)
  }
  return fields
}

function scalar(fields: Fields, name: string): unknown {
  const node = fields.get(name)
  return isScalar(node) ? node.value : node === undefined ? undefined : null
}

function duration(fields: Fields, name: string, report: Report): number | undefined {
  const text = scalar(fields, name)
  if (text === undefined) return undefined
  const ms = typeof text === 'string' ? parseDuration(text) : undefined
  if (ms === undefined) report(fields.get(name) ?? null, `'${name}' must be a duration`, 'write it with a unit: 500ms, 60s, 2m')
  return ms
}

function count(fields: Fields, name: string, report: Report): number | undefined {
  const value = scalar(fields, name)
  if (value === undefined) return undefined
  if (typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 1_000_000) return value
  report(fields.get(name) ?? null, `'${name}' must be a whole number from 1 to 1000000`, `write e.g. ${name}: 64`)
  return undefined
}

function words<T extends string>(fields: Fields, name: string, allowed: readonly T[], report: Report): T[] | undefined {
  const node = fields.get(name)
  if (node === undefined) return undefined
  const items = isSeq(node) ? node.items.map((i) => (isScalar(i) ? i.value : undefined)) : [undefined]
  const bad = items.find((i) => !allowed.includes(i as T))
  if (bad === undefined) return items as T[]
  report(node, `'${name}' must be a list of: ${allowed.join(', ')}`, `write ${name}: [${allowed.slice(0, 2).join(', ')}]`)
  return undefined
}

function setIf<T, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value
}
