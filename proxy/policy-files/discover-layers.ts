/**
 * Which files make up the policy, lowest precedence first: system → user → project (only when
 * trusted) → `--policy` files → the decisions file → `--allow`/`--block`/`--mode`, all bounded by the
 * managed requirements. `--policy` replaces the discovered system, user and project files (an
 * explicit command line is what the operator asked for); requirements apply either way.
 */
import { access } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Layer, Mode } from '../../policy/types.js'
import { ConfigError } from '../errors.js'
import { projectPolicyFile, requirementsFileIn, systemPolicyFile, userPolicyFile, type PolicyRoots } from './policy-roots.js'
import { projectTrust, trustNotice, type ProjectTrust } from './trust-store.js'

/** What the command line says about the policy. */
export interface LayerInputs {
  /** `--policy FILE`, in precedence order; when given, discovery of system/user/project is skipped. */
  readonly explicit: readonly string[]
  /** `--requirements FILE`; else `/etc/guarded/requirements.yaml` when it exists. */
  readonly requirementsFile?: string
  /** Files a launcher writes for one run (its profile's hosts): the cli layer, after the others, without replacing discovery. */
  readonly overlays?: readonly string[]
  /** `--decisions FILE` (loaded when it exists). */
  readonly decisionsFile?: string
  /** `--allow PATTERN`, `--block PATTERN`, `--mode MODE`: the command-line layer proper. */
  readonly allow?: readonly string[]
  readonly block?: readonly string[]
  readonly mode?: Mode
}

/** One file to read, with its layer; `text` is set when discovery already read (and hashed) it. */
export interface LayerFile {
  readonly file: string
  readonly layer: Layer
  readonly text?: string
}

/** The discovered files, and what to tell the user about files that were found but not loaded. */
export interface Layers {
  readonly files: readonly LayerFile[]
  readonly notices: readonly string[]
  /** The project found from `roots.cwd`, trusted or not. */
  readonly project?: ProjectTrust
}

/** Finds the layers; throws ConfigError when an explicitly named requirements file is missing. */
export async function discoverLayers(inputs: LayerInputs, roots: PolicyRoots): Promise<Layers> {
  const files: LayerFile[] = []
  const notices: string[] = []
  let project: ProjectTrust | undefined
  if (inputs.explicit.length > 0) files.push(...inputs.explicit.map((file) => ({ file, layer: 'cli' as const })))
  else {
    if (await exists(systemPolicyFile(roots))) files.push({ file: systemPolicyFile(roots), layer: 'system' })
    if (await exists(userPolicyFile(roots))) files.push({ file: userPolicyFile(roots), layer: 'user' })
    project = await findProject(roots)
    if (project?.status === 'trusted' && project.text !== undefined) files.push({ file: project.file, layer: 'project', text: project.text })
    const notice = project && trustNotice(project)
    if (notice) notices.push(notice)
  }
  files.push(...(inputs.overlays ?? []).map((file) => ({ file, layer: 'cli' as const })))
  if (inputs.decisionsFile && (await exists(inputs.decisionsFile))) files.push({ file: inputs.decisionsFile, layer: 'decisions' })
  const requirements = await requirementsFile(inputs, roots)
  if (requirements) files.push({ file: requirements, layer: 'requirements' })
  return { files, notices, ...(project && { project }) }
}

async function requirementsFile(inputs: LayerInputs, roots: PolicyRoots): Promise<string | undefined> {
  if (inputs.requirementsFile !== undefined) {
    if (!(await exists(inputs.requirementsFile))) throw new ConfigError(`--requirements ${inputs.requirementsFile}: no such file (a named requirements file must exist: the proxy never runs unbounded by mistake)`)
    return inputs.requirementsFile
  }
  const system = requirementsFileIn(roots)
  return (await exists(system)) ? system : undefined
}

/** The nearest ancestor of `roots.cwd` (itself included) holding `.guarded/policy.yaml`. */
async function findProject(roots: PolicyRoots): Promise<ProjectTrust | undefined> {
  for (let dir = roots.cwd; ; dir = dirname(dir)) {
    if (await exists(projectPolicyFile(dir))) return projectTrust(dir, roots)
    if (dirname(dir) === dir) return undefined
  }
}

function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false)
}

