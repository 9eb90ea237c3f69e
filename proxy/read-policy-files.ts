/** Reads policy files from disk and hands their text to the pure loader. */
import { readFile } from 'node:fs/promises'
import { loadPolicy } from '../policy/load.js'
import type { Policy } from '../policy/types.js'
import { ConfigError } from './errors.js'

/** Loads exactly these files, in precedence order; throws PolicyError (every problem) or ConfigError (unreadable). */
export async function readPolicyFiles(files: readonly string[]): Promise<Policy> {
  const sources = await Promise.all(
    files.map(async (file) => {
      try {
        return { file, text: await readFile(file, 'utf8'), layer: 'cli' as const }
      } catch (err) {
        throw new ConfigError(`cannot read policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
      }
    }),
  )
  return loadPolicy(sources)
}
