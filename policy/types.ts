/** Shared policy vocabulary: every closed set here is reused as event values and metric labels. */
import type { ReasonCode } from './reasons.js'
import type { ApprovalConfig } from './approval-config.js'

/** How a destination stands against the policy, before any approval. */
export type Classification = 'allowed' | 'blocked' | 'unknown'
/** The final answer for one connection or request. */
export type Verdict = 'allow' | 'deny'
/** What the policy asks the proxy to do next: `ask` means "park it and seek an approval". */
export type Action = 'allow' | 'deny' | 'ask'
/** What unknown destinations get. */
export type DefaultAction = 'ask' | 'deny'
/** Where a rule came from (issue 7 adds layering; a plain `--policy` file is `cli`). */
export type Layer = 'system' | 'user' | 'project' | 'cli' | 'decisions' | 'requirements'

/** A place in a policy file, 1-based, for errors and for `X-Guarded-Rule` explanations. */
export interface SourceRef {
  readonly file: string
  readonly line: number
  readonly col: number
}

/** Which ports a rule covers. `default` is 80 and 443 for allow rules and every port for block rules. */
export type PortSpec =
  | { readonly kind: 'default' }
  | { readonly kind: 'any' }
  | { readonly kind: 'range'; readonly from: number; readonly to: number }

/** The host half of a rule, already normalised. */
export type HostPattern =
  | { readonly kind: 'exact'; readonly host: string }
  /** `*.example.com`: any subdomain at any depth, never the apex; `suffix` is `example.com`. */
  | { readonly kind: 'wildcard'; readonly suffix: string }
  /** An IP literal or CIDR; `address` is the canonical network address, v4 or v6. */
  | { readonly kind: 'cidr'; readonly family: 4 | 6; readonly address: string; readonly prefix: number }

/** One compiled allow or block entry. */
export interface Rule {
  readonly action: 'allow' | 'block'
  /** The entry as the author wrote it, e.g. `*.pastebin.com` or `registry.npmjs.org:443`. */
  readonly pattern: string
  readonly host: HostPattern
  readonly ports: PortSpec
  readonly layer: Layer
  readonly source: SourceRef
}

/** A CIDR from `allow_private`. */
export interface Cidr {
  readonly family: 4 | 6
  readonly address: string
  readonly prefix: number
  readonly text: string
}

/** A normalised destination: `host` is lower-case A-labels without trailing dot, or a canonical IP. */
export interface Destination {
  readonly host: string
  readonly port: number
  /** `name` for DNS names, 4 or 6 for IP literals (already canonical: `127.1` is `127.0.0.1`). */
  readonly kind: 'name' | 4 | 6
}

/** The answer `decide` gives: a value that carries its reason, never an exception. */
export interface Decision {
  readonly classification: Classification
  readonly action: Action
  readonly reason: ReasonCode
  /** The rule that matched, when one did (for a port mismatch: the allow rule whose host matched). */
  readonly rule?: Rule
}

/** A loaded, frozen, normalised policy. Build it with `loadPolicy`; never construct one by hand. */
export interface Policy {
  readonly version: 1
  readonly default: DefaultAction
  readonly rules: readonly Rule[]
  readonly allowPrivate: readonly Cidr[]
  /** The `audit:` section. */
  readonly audit?: AuditSettings
  /** The `approval:` section, when the policy has one (the command line may override it). */
  readonly approval?: Partial<ApprovalConfig>
  /** Files the policy was loaded from, in precedence order. */
  readonly files: readonly string[]
}

/** The `audit:` section: what happens when the audit log cannot keep up, and prompt text redaction. */
export interface AuditSettings {
  readonly onFull?: 'block' | 'drop'
  readonly redactPromptText?: boolean
}
