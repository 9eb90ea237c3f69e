/** The small explicit context every connection handler receives; nothing reaches for a global. */
import type { Policy } from '../policy/types.js'
import type { EventBus } from './events.js'
import type { Limits } from './options.js'
import type { SelfAddresses } from './resolve-checked.js'
import type { Resolver } from './resolver.js'

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
  /** The session of clients that do not identify one (issue 4 adds credentials and per-listener sessions). */
  readonly defaultSessionId: string
}
