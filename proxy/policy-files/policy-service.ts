/**
 * The policy as the running proxy holds it: loaded from its layers at start, reloaded on SIGHUP and
 * when a file changes, every result logged and handed to `onReload` (the reload metric).
 */
import type { Policy } from '../../policy/types.js'
import type { PolicyRef } from '../context.js'
import type { Logger } from '../logger.js'
import type { ServeOptions } from '../options.js'
import type { LayerInputs } from './discover-layers.js'
import { defaultRoots, type PolicyRoots } from './policy-roots.js'
import { createPolicyReloader, loadInitialPolicy, type ReloadResult } from './policy-reloader.js'
import { watchPolicyFiles } from './watch-policy-files.js'

/** Hooks the proxy wires once its other parts exist. */
export interface PolicyHooks {
  readonly prepare?: (policy: Policy) => Promise<void>
  readonly onReload?: (result: ReloadResult) => void
}

/** The running policy: its reference, a reload, and the watcher to stop. */
export interface PolicyService {
  reload(): Promise<ReloadResult>
  close(): void
}

/** The layer inputs a `serve` command line gives. */
export function layerInputs(options: ServeOptions): LayerInputs {
  return {
    explicit: options.policyFiles,
    ...(options.policyOverlays && { overlays: options.policyOverlays }),
    ...(options.requirementsFile !== undefined && { requirementsFile: options.requirementsFile }),
    ...(options.decisionsFile !== undefined && { decisionsFile: options.decisionsFile }),
    ...(options.allow && { allow: options.allow }),
    ...(options.block && { block: options.block }),
    ...(options.mode && { mode: options.mode }),
  }
}

/** Loads the policy (a bad one throws: the proxy refuses to start); `start` begins reloads. */
export async function openPolicy(options: ServeOptions, env: NodeJS.ProcessEnv, logger?: Logger, roots: PolicyRoots = defaultRoots(env)) {
  const inputs = layerInputs(options)
  const initial = await loadInitialPolicy({ inputs, roots })
  const ref: PolicyRef = { current: initial.policy }
  report(logger, initial.policy, initial.layers.notices)
  let lastNotices = initial.layers.notices.join('\n')
  const start = (hooks: PolicyHooks): PolicyService => {
    const reloader = createPolicyReloader(
      {
        inputs,
        roots,
        ref,
        ...(hooks.prepare && { prepare: hooks.prepare }),
        onResult: (result, notices) => {
          if (!result.ok || result.changed) hooks.onReload?.(result)
          // A notice (an untrusted project file) is said once, not on every reload.
          const fresh = notices.join('\n') !== lastNotices ? notices : []
          lastNotices = notices.join('\n')
          if (result.ok && result.changed) report(logger, ref.current, fresh, result.rules)
          else if (!result.ok) logger?.error({ error: result.error.message }, 'policy reload failed; the previous policy stays in force')
        },
      },
      initial.layers,
    )
    const watch = options.watchPolicy ? watchPolicyFiles(reloader.files(), () => void reloader.reloadIfChanged().then(() => watch?.update(reloader.files()))) : undefined
    return { reload: () => reloader.reload(), close: () => watch?.close() }
  }
  return { ref, start }
}

/** Logs a loaded policy: its size and mode, every notice and every clamp (a clamp is never silent). */
function report(logger: Logger | undefined, policy: Policy, notices: readonly string[], rules?: number): void {
  if (rules !== undefined) logger?.info({ rules, mode: policy.mode ?? 'enforce' }, 'policy reloaded')
  for (const notice of notices) logger?.warn({ notice }, 'policy layer not loaded')
  for (const clamp of policy.clamps ?? []) logger?.warn({ requirement: clamp.requirement, at: `${clamp.subject.file}:${clamp.subject.line}:${clamp.subject.col}`, layer: clamp.layer }, clamp.message)
  if (policy.mode === 'audit') logger?.warn({ mode: 'audit' }, 'audit mode: nothing is refused except unsafe addresses; every decision records what enforce would have done')
}
