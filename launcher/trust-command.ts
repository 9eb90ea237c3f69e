/** `guarded-run trust [DIR]`: the same check and record as `guarded-proxy policy trust DIR`, one code path. */
import { policyCommand } from '../proxy/policy-command.js'

/** Trusts DIR's `.guarded/policy.yaml` as it is now; an edit makes it untrusted again. */
export async function trustCommand(dir: string, _env: NodeJS.ProcessEnv): Promise<number> {
  return policyCommand(['trust', dir])
}
