/** Reads the discovered layer files into sources for the pure loader, plus the command-line layer. */
import { readFile } from 'node:fs/promises'
import type { PolicySource } from '../../policy/read-source.js'
import { ConfigError } from '../errors.js'
import { discoverLayers, type LayerInputs, type Layers } from './discover-layers.js'
import type { PolicyRoots } from './policy-roots.js'

/** The name command-line rules carry in messages and explanations. */
export const COMMAND_LINE = '(command line)'

/** Every source, lowest precedence first, with the notices discovery produced. */
export interface LayerSources extends Omit<Layers, 'files'> {
  readonly sources: readonly PolicySource[]
}

/** Discovers and reads every layer; an unreadable file is a ConfigError naming it. */
export async function readLayers(inputs: LayerInputs, roots: PolicyRoots): Promise<LayerSources> {
  const layers = await discoverLayers(inputs, roots)
  const read = await Promise.all(layers.files.map(async ({ file, layer, text }) => ({ file, layer, text: text ?? (await readText(file)) })))
  const flags = commandLineSource(inputs)
  // The flags sit above the files they refine and the decisions overlay, below the requirements.
  const requirements = read.filter((s) => s.layer === 'requirements')
  const sources = [...read.filter((s) => s.layer !== 'requirements'), ...(flags ? [flags] : []), ...requirements]
  return { sources, notices: layers.notices, ...(layers.project && { project: layers.project }) }
}

/** `--allow`, `--block` and `--mode` as one policy source, so they are checked and clamped like a file. */
export function commandLineSource(inputs: LayerInputs): PolicySource | undefined {
  const allow = inputs.allow ?? []
  const block = inputs.block ?? []
  if (allow.length === 0 && block.length === 0 && inputs.mode === undefined) return undefined
  // JSON strings are YAML double-quoted scalars, so a pattern like "*.x" is never read as an alias.
  const list = (key: string, items: readonly string[]): string => (items.length === 0 ? '' : `${key}:\n${items.map((i) => `  - ${JSON.stringify(i)}\n`).join('')}`)
  const text = `version: 1\n${inputs.mode ? `mode: ${inputs.mode}\n` : ''}${list('allow', allow)}${list('block', block)}`
  return { file: COMMAND_LINE, text, layer: 'cli' }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}
