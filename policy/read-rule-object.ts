/**
 * Reads an `allow` entry written as a mapping: `host` (the same pattern as a plain entry) plus `methods`, `paths`,
 * `inspect` and `credentials`. Every problem is reported with a fix; a rule with any problem is not returned.
 */
import { isMap, isScalar, isSeq, type Node, type YAMLMap } from 'yaml'
import picomatch from 'picomatch'
import type { Report } from './read-settings.js'
import type { CredentialPart, CredentialSpec, Layer, Rule } from './types.js'

/** What a mapping entry adds to a plain rule. */
export type RuleExtras = Pick<Rule, 'methods' | 'paths' | 'inspect' | 'credentials'>

/** A mapping entry, read: its host pattern text (parsed by the caller, like a plain entry) and its extras. */
export interface RuleObject {
  readonly host: string
  readonly hostNode: Node
  readonly extras: RuleExtras
}

const FIELDS = ['host', 'methods', 'paths', 'inspect', 'credentials'] as const
// RFC 9110 §5.6.2 token: what a method or a header name may be made of.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// Headers the proxy itself owns or that change framing: injecting them would break or smuggle requests.
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-authorization', 'proxy-connection'])
// Only layers an operator writes may carry credentials: a project's own file must not pick where a token goes.
const CREDENTIAL_LAYERS: ReadonlySet<Layer> = new Set(['system', 'requirements', 'cli'])
const REFERENCE = /\$\{(env|file):([^}]*)\}/g

/** Reads one mapping entry of `allow` or `block`; undefined when it had problems (already reported). */
export function readRuleObject(map: YAMLMap, action: Rule['action'], layer: Layer, report: Report): RuleObject | undefined {
  const fields = new Map<string, Node | null>()
  for (const pair of map.items) {
    const key = pair.key as Node
    const name = isScalar(key) ? String(key.value) : ''
    if ((FIELDS as readonly string[]).includes(name)) fields.set(name, pair.value as Node | null)
    else report(key, `unknown rule field '${name}'`, `a rule takes ${FIELDS.join(', ')}`)
  }
  const hostNode = fields.get('host')
  if (!isScalar(hostNode) || typeof hostNode.value !== 'string') return void report(hostNode ?? map, "a rule written as a mapping needs 'host'", 'write host: api.example.com (the same pattern as a plain entry, port included)')
  if (action === 'block' && fields.size > 1) return void report(map, 'block rules take only host', `write the block as a plain entry: - "${hostNode.value}"`)
  const problems = { count: 0 }
  const counted: Report = (node, message, fix) => (problems.count++, report(node, message, fix))
  const extras = readExtras(fields, layer, counted)
  return problems.count === 0 ? { host: hostNode.value, hostNode, extras } : undefined
}

function readExtras(fields: Map<string, Node | null>, layer: Layer, report: Report): RuleExtras {
  const out: { -readonly [K in keyof RuleExtras]: RuleExtras[K] } = {}
  if (fields.has('methods')) out.methods = readMethods(fields.get('methods') ?? null, report)
  if (fields.has('paths')) out.paths = readPaths(fields.get('paths') ?? null, report)
  if (fields.has('inspect')) out.inspect = readInspect(fields.get('inspect') ?? null, report)
  if (fields.has('credentials')) out.credentials = readCredentials(fields.get('credentials') ?? null, layer, report)
  return out
}

/** Upper-cased, as every registered method is; `get` in a policy means GET. */
function readMethods(node: Node | null, report: Report): string[] {
  const items = strings(node, 'methods', 'write methods: [GET, HEAD]', report)
  for (const [text, item] of items) if (!TOKEN.test(text)) report(item, `'${text}' is not an HTTP method`, 'write methods such as GET, HEAD, POST')
  return [...new Set(items.map(([text]) => text.toUpperCase()))]
}

function readPaths(node: Node | null, report: Report): string[] {
  const items = strings(node, 'paths', 'write paths: ["/repos/acme/**"]', report)
  for (const [text, item] of items) {
    if (!text.startsWith('/')) report(item, `path glob '${text}' does not start with '/'`, `write "/${text.replace(/^\**\/?/, '')}"; globs match the whole path from the root`)
    else if (/(^|\/)\.\.?(\/|$)/.test(text)) report(item, `path glob '${text}' holds a dot segment, which no canonical path contains`, 'write the path as the server sees it, without ./ or ../')
    else if (!compiles(text)) report(item, `path glob '${text}' is not a valid glob`, 'use * within a segment, ** across segments, {a,b} for alternatives')
  }
  return items.map(([text]) => text)
}

function compiles(glob: string): boolean {
  try {
    picomatch(glob)
    return true
  } catch {
    return false
  }
}

function readInspect(node: Node | null, report: Report): boolean {
  if (isScalar(node) && typeof node.value === 'boolean') return node.value
  report(node, "'inspect' must be true or false", 'write inspect: true to terminate TLS and record every request to this host')
  return false
}

function readCredentials(node: Node | null, layer: Layer, report: Report): CredentialSpec | undefined {
  if (!CREDENTIAL_LAYERS.has(layer)) {
    return void report(node, `credentials may not be set in a ${layer} policy: that file could send your token to a host it picks`, 'move this rule to the system policy, the managed requirements or a --policy file on the command line')
  }
  const fields = isMap(node) ? new Map(node.items.map((p) => [isScalar(p.key) ? String(p.key.value) : '', p.value as Node | null])) : undefined
  const header = fields?.get('header')
  const value = fields?.get('value')
  const extra = [...(fields?.keys() ?? [])].find((k) => k !== 'header' && k !== 'value')
  if (!fields || extra !== undefined) return void report(node, `'credentials' must be a mapping of header and value${extra === undefined ? '' : `, not '${extra}'`}`, 'write credentials: {header: Authorization, value: "Bearer ${env:TOKEN}"}')
  const name = isScalar(header) && typeof header.value === 'string' ? header.value.toLowerCase() : ''
  if (!TOKEN.test(name) || RESERVED_HEADERS.has(name)) return void report(header ?? node, `'${name}' cannot be a credential header`, 'name an ordinary request header such as Authorization or X-Api-Key')
  if (!isScalar(value) || typeof value.value !== 'string') return void report(value ?? node, "'credentials.value' must be a string", 'write value: "Bearer ${env:TOKEN}"')
  const parts = parseTemplate(value.value)
  if (typeof parts === 'string') return void report(value, parts, 'write ${env:NAME} for a variable of the proxy\'s environment or ${file:/absolute/path} for a file')
  return { header: name, parts }
}

/** Splits `Bearer ${env:TOKEN}` into text and references; a string is the problem. */
export function parseTemplate(text: string): CredentialPart[] | string {
  const parts: CredentialPart[] = []
  let at = 0
  for (const match of text.matchAll(REFERENCE)) {
    const [whole, kind, arg = ''] = match
    if (match.index > at) parts.push({ kind: 'text', text: text.slice(at, match.index) })
    if (kind === 'env' && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(arg)) return `'${whole}' does not name an environment variable`
    if (kind === 'file' && !arg.startsWith('/')) return `'${whole}' needs an absolute path`
    parts.push(kind === 'env' ? { kind: 'env', name: arg } : { kind: 'file', path: arg })
    at = match.index + whole.length
  }
  if (at < text.length) parts.push({ kind: 'text', text: text.slice(at) })
  if (parts.some((p) => p.kind === 'text' && p.text.includes('${'))) return `'${text}' holds a '\${' that is not \${env:NAME} or \${file:/path}`
  // A secret written into the policy is readable by everyone who can read the policy, and lands in backups.
  if (!parts.some((p) => p.kind !== 'text')) return 'a credential value must come from ${env:NAME} or ${file:/path}, never from the policy text'
  if (parts.some((p) => p.kind === 'text' && /[\r\n\0]/.test(p.text))) return 'a credential value may not contain line breaks'
  return parts
}

/** The `[text, node]` pairs of a list of strings, reporting anything else. */
function strings(node: Node | null, name: string, fix: string, report: Report): [string, Node][] {
  if (!isSeq(node) || node.items.length === 0) return void report(node, `'${name}' must be a non-empty list`, fix), []
  const out: [string, Node][] = []
  for (const item of node.items as Node[]) {
    if (isScalar(item) && typeof item.value === 'string') out.push([item.value, item])
    else report(item, `each '${name}' entry must be a string`, fix)
  }
  return out
}
