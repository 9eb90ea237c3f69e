// Which policy files a run loads, in precedence order: `--policy` files, or the discovered layers
// (system, user, trusted project) that the proxy itself discovers, or — when this machine has none —
// the bundled default; then the run's own overlays. Requirements bound every case.
import { existsSync } from 'node:fs'
import { discoverLayers } from '../proxy/policy-files/discover-layers.js'
import { defaultRoots } from '../proxy/policy-files/policy-roots.js'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What decides the run's policy files. */
export interface PolicyInputs {
  /** `--policy FILE`, in the order given. */
  readonly explicit: readonly string[]
  /** Overlays guarded-run wrote for this run (the profile's hosts), loaded last. */
  readonly overlays: readonly string[]
}

/** The bundled default policy, found from source (launcher/) or build (dist/launcher/) layout. */
export const BUNDLED_POLICY = bundledPolicy()

/** The files to load, lowest precedence first. */
export function resolvePolicyFiles(inputs: PolicyInputs): string[] {
  const base = inputs.explicit.length > 0 ? inputs.explicit : [BUNDLED_POLICY]
  return [...base, ...inputs.overlays]
}

function bundledPolicy(): string {
  // tsc does not copy YAML, so dist/launcher/ reads it from the source tree too.
  const here = fileURLToPath(new URL('.', import.meta.url))
  const candidates = [join(here, '..', 'policy', 'default.yaml'), join(here, '..', '..', 'policy', 'default.yaml')]
  return candidates.find((file) => existsSync(file)) ?? (candidates[0] as string)
}

/** What the run's proxy loads: explicit files (or none, to discover layers), overlays, and notices for the user. */
export interface RunPolicy {
  readonly policyFiles: readonly string[]
  readonly overlays: readonly string[]
  /** Said once, on stderr: e.g. a project policy that changed since it was trusted. */
  readonly notices: readonly string[]
}

/** Decides between `--policy`, the discovered layers, and the bundled default. */
export async function resolveRunPolicy(inputs: PolicyInputs, env: NodeJS.ProcessEnv, cwd: string): Promise<RunPolicy> {
  if (inputs.explicit.length > 0) return { policyFiles: inputs.explicit, overlays: inputs.overlays, notices: [] }
  const layers = await discoverLayers({ explicit: [] }, defaultRoots(env, cwd))
  const found = layers.files.some((f) => f.layer === 'system' || f.layer === 'user' || f.layer === 'project')
  // An empty list makes the proxy discover the same layers itself (and watch them for changes).
  return { policyFiles: found ? [] : [BUNDLED_POLICY], overlays: inputs.overlays, notices: layers.notices }
}
