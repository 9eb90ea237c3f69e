/** Where the policy layers live on this machine; injected so tests never read the real /etc or home. */
import { homedir } from 'node:os'
import { join } from 'node:path'

/** The directories layered discovery looks in. */
export interface PolicyRoots {
  /** System layer and managed requirements: `/etc/guarded`. */
  readonly systemDir: string
  /** The user's Guarded config: `$XDG_CONFIG_HOME/guarded` or `~/.config/guarded` (user layer, trust store). */
  readonly configDir: string
  /** Where project discovery starts (the nearest ancestor with `.guarded/policy.yaml` is the project). */
  readonly cwd: string
}

/** The roots a real process uses. */
export function defaultRoots(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): PolicyRoots {
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config')
  return { systemDir: '/etc/guarded', configDir: join(config, 'guarded'), cwd }
}

/** The system layer's file. */
export const systemPolicyFile = (roots: PolicyRoots): string => join(roots.systemDir, 'policy.yaml')
/** The default managed requirements file. */
export const requirementsFileIn = (roots: PolicyRoots): string => join(roots.systemDir, 'requirements.yaml')
/** The user layer's file. */
export const userPolicyFile = (roots: PolicyRoots): string => join(roots.configDir, 'policy.yaml')
/** The trust store: which project directories (and which file contents) the user trusted. */
export const trustStoreFile = (roots: PolicyRoots): string => join(roots.configDir, 'trusted-projects.json')
/** A project's policy file, relative to the project directory. */
export const projectPolicyFile = (dir: string): string => join(dir, '.guarded', 'policy.yaml')
