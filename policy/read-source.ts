/**
 * Reads one policy file into rules and settings, recording every problem with its line and column
 * rather than stopping at the first, so an author fixes a file in one pass.
 */
import { Alias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml'
import { normalizeHost } from './normalize-host.js'
import { parseCidr } from './parse-cidr.js'
import { parsePattern } from './parse-pattern.js'
import { readRuleObject, type RuleObject } from './read-rule-object.js'
import type { PolicyProblem } from './policy-error.js'
import type { AuditSettings, Cidr, DefaultAction, Forbidden, Layer, Mode, Rule, SourceRef } from './types.js'
import type { ApprovalConfig } from './approval-config.js'
import { readApproval, readAudit, type Report } from './read-settings.js'

/** One policy source as the caller read it; `policy/` never touches the file system itself. */
export interface PolicySource {
  readonly file: string
  readonly text: string
  readonly layer?: Layer
}

/** What one file contributes before merging. */
export interface SourceContent {
  default?: DefaultAction
  readonly rules: Rule[]
  readonly allowPrivate: Cidr[]
  approval?: Partial<ApprovalConfig>
  audit?: AuditSettings
  /** `tls_ports`: where an opaque tunnel must open with a TLS ClientHello. */
  tlsPorts?: number[]
  mode?: Mode
  /** Requirements file only: lower layers may not add allows. */
  allowedDomainsOnly?: boolean
  /** Requirements file only: escape hatches removed. */
  forbid?: Forbidden[]
}

interface Reader {
  readonly source: PolicySource
  readonly lines: LineCounter
  readonly problems: PolicyProblem[]
  readonly content: SourceContent
}

type KeyReader = (value: Node | null, key: Node, r: Reader) => void

/** Top-level keys. A new setting is one line here plus its reader. */
const KEYS: Readonly<Record<string, KeyReader>> = {
  version: readVersion,
  default: readDefault,
  allow: (value, _key, r) => readRules(value, 'allow', r),
  block: (value, _key, r) => readRules(value, 'block', r),
  allow_private: readAllowPrivate,
  tls_ports: readTlsPorts,
  approval: (value, _key, r) => (r.content.approval = { ...r.content.approval, ...readApproval(value, reporter(r)) }),
  audit: (value, _key, r) => (r.content.audit = { ...r.content.audit, ...readAudit(value, reporter(r)) }),
  mode: readMode,
  allowed_domains_only: readAllowedDomainsOnly,
  forbid: readForbid,
}

function reporter(r: Reader): Report {
  return (node, message, fix) => report(r, offset(node), message, fix)
}

/** Parses one source, appending its problems to `problems`; the content is only meaningful if none were added. */
export function readSource(source: PolicySource, problems: PolicyProblem[]): SourceContent {
  const r: Reader = { source, lines: new LineCounter(), problems: [], content: { rules: [], allowPrivate: [] } }
  readDocument(r)
  problems.push(...r.problems.sort((a, b) => a.line - b.line || a.col - b.col))
  return r.content
}

function readDocument(r: Reader): void {
  const text = r.source.text
  const doc = parseDocument(text, { lineCounter: r.lines, uniqueKeys: true, prettyErrors: false })
  for (const error of doc.errors) report(r, error.pos[0], yamlMessage(error.code, error.message, text, error.pos[0]), yamlFix(error.code))
  if (doc.errors.every((e) => e.code === 'DUPLICATE_KEY')) readRoot(doc.contents, r)
}

function readRoot(root: Node | null, r: Reader): void {
  if (!isMap(root)) return report(r, 0, 'a policy must be a mapping of keys such as version, default and allow', 'start the file with "version: 1"')
  let version = false
  for (const pair of root.items) {
    const key = pair.key as Node
    const name = isScalar(key) ? String(key.value) : ''
    const reader = KEYS[name]
    if (reader === undefined) report(r, offset(key), `unknown key '${name}'`, suggestKey(name))
    else reader(pair.value as Node | null, key, r)
    version ||= name === 'version'
  }
  if (!version) report(r, 0, "'version' is missing", 'add "version: 1" as the first line')
}

function readVersion(value: Node | null, key: Node, r: Reader): void {
  if (!isScalar(value) || value.value !== 1) report(r, offset(value ?? key), "'version' must be 1", 'write "version: 1", the only schema version so far')
}

function readDefault(value: Node | null, key: Node, r: Reader): void {
  const text = isScalar(value) ? value.value : undefined
  if (text === 'ask' || text === 'deny') r.content.default = text
  else report(r, offset(value ?? key), "'default' must be ask or deny", 'write "default: ask" to hold unknown destinations for approval, or "default: deny"')
}

function readRules(value: Node | null, action: Rule['action'], r: Reader): void {
  const layer = r.source.layer ?? 'cli'
  // A mapping entry (`- host: api.github.com` with methods, paths, credentials) is read by read-rule-object.ts.
  const objects = (item: Node): RuleObject | null | undefined => (isMap(item) ? (readRuleObject(item, action, layer, reporter(r)) ?? null) : undefined)
  for (const [text, node, object] of stringItems(value, action, r, objects)) {
    const parsed = parsePattern(text)
    if (!parsed.ok) report(r, offset(node), parsed.message, parsed.fix)
    else r.content.rules.push({ action, pattern: text, ...parsed.value, ...object?.extras, layer, source: ref(r, offset(node)) })
  }
}

function readTlsPorts(value: Node | null, key: Node, r: Reader): void {
  const items = isSeq(value) ? (value.items as Node[]) : undefined
  const ports = items?.map((item) => (isScalar(item) && Number.isInteger(item.value) ? (item.value as number) : NaN))
  if (!ports || ports.some((p) => !(p >= 1 && p <= 65535))) {
    return report(r, offset(value ?? key), "'tls_ports' must be a list of port numbers", 'write "tls_ports: [443, 8443]": opaque tunnels to these ports must start with a TLS ClientHello')
  }
  r.content.tlsPorts = [...new Set(ports)]
}

function readAllowPrivate(value: Node | null, _key: Node, r: Reader): void {
  for (const [text, node] of stringItems(value, 'allow_private', r)) {
    const parsed = text.includes('/') ? parseCidr(text) : undefined
    if (parsed === undefined) report(r, offset(node), `allow_private entry '${text}' is not a CIDR`, notCidrFix(text))
    else if (!parsed.ok) report(r, offset(node), parsed.message, parsed.fix)
    else r.content.allowPrivate.push(parsed.value)
  }
}

function readMode(value: Node | null, key: Node, r: Reader): void {
  const text = isScalar(value) ? value.value : undefined
  if (text === 'enforce' || text === 'audit') r.content.mode = text
  else report(r, offset(value ?? key), "'mode' must be enforce or audit", 'write "mode: enforce" (the default) or "mode: audit" to report without refusing')
}

function readAllowedDomainsOnly(value: Node | null, key: Node, r: Reader): void {
  if (isScalar(value) && typeof value.value === 'boolean') r.content.allowedDomainsOnly = value.value
  else report(r, offset(value ?? key), "'allowed_domains_only' must be true or false", 'write "allowed_domains_only: true" to let only the requirements file add allow rules')
}

const FORBIDDEN: readonly Forbidden[] = ['no-sandbox', 'audit-mode']

function readForbid(value: Node | null, _key: Node, r: Reader): void {
  const forbid: Forbidden[] = []
  for (const [text, node] of stringItems(value, 'forbid', r)) {
    if (FORBIDDEN.includes(text as Forbidden)) forbid.push(text as Forbidden)
    else report(r, offset(node), `'forbid' entry '${text}' is not an escape hatch`, `write one of: ${FORBIDDEN.join(', ')}`)
  }
  r.content.forbid = forbid
}

function notCidrFix(text: string): string {
  const host = normalizeHost(text)
  if (host.ok && host.kind !== 'name') return `write a single address with its prefix length: ${host.host}/${host.kind === 4 ? 32 : 128}`
  return 'allow_private takes networks such as 10.20.0.0/16: it is checked against resolved addresses, not names'
}

/** The string entries of a list key; an empty key (`allow:`) is an empty list. */
function stringItems(value: Node | null, name: string, r: Reader, objects?: (item: Node) => RuleObject | null | undefined): [string, Node, RuleObject?][] {
  if (value === null || (isScalar(value) && value.value === null)) return []
  if (!isSeq(value)) {
    report(r, offset(value), `'${name}' must be a list`, `write each entry on its own line under '${name}:' as "- entry"`)
    return []
  }
  const items: [string, Node, RuleObject?][] = []
  for (const item of value.items as Node[]) {
    const object = objects?.(item)
    if (object) items.push([object.host, object.hostNode, object])
    else if (object === null) continue // a mapping entry whose problems are already reported
    else if (isScalar(item) && typeof item.value === 'string') items.push([item.value, item])
    else report(r, offset(item), entryTypeMessage(item, name), entryTypeFix(item))
  }
  return items
}

function entryTypeMessage(item: Node, name: string): string {
  if (item instanceof Alias) return `unquoted '*${item.source}' is read by YAML as an alias, not a pattern`
  return `each '${name}' entry must be a string`
}

function entryTypeFix(item: Node): string {
  if (item instanceof Alias) return `quote it: "*${item.source}"`
  return 'write the entry as a host, pattern or CIDR, quoted if in doubt'
}

function offset(node: Node | null | undefined): number {
  return node?.range?.[0] ?? 0
}

function ref(r: Reader, at: number): SourceRef {
  const { line, col } = r.lines.linePos(at)
  return { file: r.source.file, line, col }
}

function report(r: Reader, at: number, message: string, fix: string): void {
  r.problems.push({ ...ref(r, at), message, fix })
}

function yamlMessage(code: string, message: string, text: string, at: number): string {
  if (code === 'DUPLICATE_KEY') return `duplicate key '${/^[^:\n]*/.exec(text.slice(at))?.[0].trim() ?? ''}'`
  return `YAML syntax: ${message.split(' at line ')[0]}`
}

function yamlFix(code: string): string {
  if (code === 'DUPLICATE_KEY') return 'merge the entries under one key: YAML would keep only the last'
  return 'correct the YAML here; quote any value that starts with * or contains ": "'
}

function suggestKey(name: string): string {
  const known = Object.keys(KEYS)
  const near = known.find((k) => distance(k, name) <= 2)
  return near ? `did you mean '${near}'?` : `known keys are ${known.join(', ')}`
}

/** Levenshtein distance, for "did you mean" on misspelt keys. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (const [i, ca] of [...a].entries()) {
    const next = [i + 1]
    for (const [j, cb] of [...b].entries()) next.push(Math.min((row[j + 1] ?? 0) + 1, (next[j] ?? 0) + 1, (row[j] ?? 0) + (ca === cb ? 0 : 1)))
    row = next
  }
  return row[b.length] ?? 0
}
