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
/** Where a rule came from, lowest precedence first; a plain `--policy` file is `cli`. */
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
  /** Object rules only: upper-case methods a request inside the tunnel may use; absent means any. */
  readonly methods?: readonly string[]
  /** Object rules only: picomatch globs on the canonical request path; absent means any. */
  readonly paths?: readonly string[]
  /** Terminate TLS for this host even without methods, paths or credentials (to record each request). */
  readonly inspect?: boolean
  /** A header the proxy sets on the requests this rule admits; only system, requirements and cli layers. */
  readonly credentials?: CredentialSpec
}

/** A header to inject; the value is a template whose references the proxy resolves, never the agent. */
export interface CredentialSpec {
  /** Lower-case header name. */
  readonly header: string
  /** The value as literal text and references, in order (`Bearer ${env:TOKEN}` is text then env). */
  readonly parts: readonly CredentialPart[]
}

/** One piece of a credential value: literal text, `${env:NAME}` or `${file:/abs/path}`. */
export type CredentialPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }

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
  /** Ports on which an opaque tunnel must start with a TLS ClientHello (`tls_ports`, default [443]). */
  readonly tlsPorts?: readonly number[]
  /** Files the policy was loaded from, in precedence order. */
  readonly files: readonly string[]
  /** `audit` reports what enforce would do and refuses nothing but unsafe addresses; absent means `enforce`. */
  readonly mode?: Mode
  /** The managed requirements that bound this policy, when there were any. */
  readonly requirements?: Requirements
  /** Every place a requirement or a layer's limits overrode what a file asked for; absent when none. */
  readonly clamps?: readonly Clamp[]
}

/** `enforce` refuses; `audit` is an explicit report-only rollout mode, never an automatic fallback. */
export type Mode = 'enforce' | 'audit'

/** Escape hatches managed requirements can remove. */
export type Forbidden = 'no-sandbox' | 'audit-mode'

/** The bounds from a managed requirements file (its `block` and `allow` rules are in `Policy.rules`). */
export interface Requirements {
  readonly file: string
  /** Lower layers may add blocks but no allows. */
  readonly allowedDomainsOnly: boolean
  /** `deny` means no layer may make unknown destinations `ask`. */
  readonly default?: DefaultAction
  readonly approvalTimeoutMs?: number
  readonly maxPending?: number
  /** A ceiling: every `allow_private` CIDR of a lower layer must lie inside one of these. */
  readonly allowPrivate?: readonly Cidr[]
  readonly forbid: readonly Forbidden[]
}

/** One thing a lower layer asked for that a requirement (or its layer's limits) did not let it have. */
export interface Clamp {
  /** What bounded it, by name: `block`, `allowed_domains_only`, `default`, `approval.timeout`, `layer`… */
  readonly requirement: string
  /** Where the bound is written (the requirements file), when it is written somewhere. */
  readonly bound?: SourceRef
  /** What was asked for, and where. */
  readonly subject: SourceRef
  readonly layer: Layer
  /** The rule that was overridden or dropped, when the clamp is about one. */
  readonly rule?: Rule
  /** One sentence: what was asked, and what applies instead. */
  readonly message: string
}

/** The `audit:` section: what happens when the audit log cannot keep up, and prompt text redaction. */
export interface AuditSettings {
  readonly onFull?: 'block' | 'drop'
  readonly redactPromptText?: boolean
}
