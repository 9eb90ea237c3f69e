/**
 * Credentials the proxy adds for the agent: resolved from the proxy's own environment or files when a policy is
 * loaded (never from anything the agent controls), held in values that refuse to print, and set on a request only
 * when the rule that admitted it carries them.
 */
import { readFile } from 'node:fs/promises'
import { inspect } from 'node:util'
import type { IncomingHttpHeaders } from 'node:http'
import type { CredentialPart, Policy, Rule } from '../policy/types.js'
import { ConfigError } from './errors.js'

/** A secret value: `reveal()` is the only way out; logging, JSON and string conversion show `[redacted]`. */
export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
  }

  /** The value itself, for the one header that needs it. */
  reveal(): string {
    return this.#value
  }

  toJSON(): string {
    return '[redacted]'
  }

  toString(): string {
    return '[redacted]'
  }

  [inspect.custom](): string {
    return 'Secret([redacted])'
  }
}

/** A credential ready to inject. */
export interface ResolvedCredential {
  readonly header: string
  readonly value: Secret
}

/** Resolved credentials of one policy, by rule. */
export type CredentialTable = ReadonlyMap<Rule, ResolvedCredential>

/** What resolution reads: the proxy's environment and its file system (injected in tests). */
export interface CredentialSources {
  readonly env: NodeJS.ProcessEnv
  readonly readFile?: (path: string) => Promise<string>
}

/** Resolves every rule's credentials; throws one ConfigError naming every rule whose reference is missing. */
export async function resolveCredentials(policy: Policy, sources: CredentialSources): Promise<CredentialTable> {
  const table = new Map<Rule, ResolvedCredential>()
  const problems: string[] = []
  for (const rule of policy.rules) {
    if (!rule.credentials) continue
    const where = `${rule.source.file}:${rule.source.line}`
    const value = await resolveParts(rule.credentials.parts, sources).catch((err: Error) => void problems.push(`${where}: ${err.message}`))
    if (value !== undefined) table.set(rule, { header: rule.credentials.header, value: new Secret(value) })
  }
  if (problems.length > 0) throw new ConfigError(`credentials cannot be resolved:\n  ${problems.join('\n  ')}`)
  return table
}

async function resolveParts(parts: readonly CredentialPart[], sources: CredentialSources): Promise<string> {
  let value = ''
  for (const part of parts) value += await resolvePart(part, sources)
  // A line break in a header value would let a file or variable smuggle a second header (CWE-113).
  if (/[\r\n\0]/.test(value)) throw new Error('the resolved value holds a line break or NUL; fix the variable or file')
  return value
}

async function resolvePart(part: CredentialPart, sources: CredentialSources): Promise<string> {
  if (part.kind === 'text') return part.text
  if (part.kind === 'env') {
    const value = sources.env[part.name]
    if (value === undefined || value === '') throw new Error(`\${env:${part.name}} is not set in the proxy's environment; export ${part.name} before starting the proxy`)
    return value
  }
  const read = sources.readFile ?? ((path: string) => readFile(path, 'utf8'))
  const text = await read(part.path).catch((err: NodeJS.ErrnoException) => Promise.reject(new Error(`\${file:${part.path}} cannot be read (${err.code ?? err.message})`)))
  return text.replace(/\r?\n$/, '') // files written by `echo` end in a newline the header must not carry
}

/** Replaces whatever the agent sent under the credential's header name with the secret. */
export function injectCredential(headers: IncomingHttpHeaders, credential: ResolvedCredential | undefined): void {
  if (!credential) return
  headers[credential.header] = credential.value.reveal()
}
