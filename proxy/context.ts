/** The small explicit context every connection handler receives; nothing reaches for a global. */
import type { Policy } from '../policy/types.js'
import type { EventBus } from './events.js'
import type { Limits } from './options.js'
import type { SelfAddresses } from './resolve-checked.js'
import type { Resolver } from './resolver.js'
import type { AuthMode } from './identify-session.js'
import type { SessionStore } from './sessions.js'
import type { ApprovalConfig } from '../policy/approval-config.js'
import type { ApprovalRegistry } from './approvals/create-registry.js'
import type { Inspection } from './tls-inspection.js'

/** The policy in force; swapped atomically on reload, read once per connection or request. */
export interface PolicyRef {
  current: Policy
}

/** What the stages of a connection need. */
export interface ProxyContext {
  readonly policy: PolicyRef
  readonly resolver: Resolver
  readonly self: SelfAddresses
  readonly events: EventBus
  readonly limits: Limits
  readonly sessions: SessionStore
  readonly approvals: ApprovalRegistry
  /** The approval settings in force (policy section, overridden by the command line). */
  approvalConfig(): ApprovalConfig
  readonly auth: AuthMode
  /** The session of unauthenticated clients when `auth` is `none`. */
  readonly defaultSessionId: string
  /** TLS inspection (CA, leaves, credentials, upstream pools); absent in contexts built without it. */
  readonly inspection?: Inspection
}
