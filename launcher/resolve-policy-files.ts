// Which policy files a run loads, in precedence order. The one place layered
// discovery (system, user, project) will plug in; until then it is `--policy`
// or the bundled default, then the run's own overlay.
import { existsSync } from 'node:fs'
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
