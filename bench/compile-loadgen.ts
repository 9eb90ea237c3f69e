import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Tools } from './types.js'

const run = promisify(execFile)

/**
 * The C sources live beside the TypeScript in bench/. tsc does not copy them to dist/bench/, so
 * from compiled code they are two levels up; from source (tests run the .ts) they are beside us.
 */
function sourcePath(name: string): string {
  const beside = fileURLToPath(new URL(name, import.meta.url))
  return existsSync(beside) ? beside : fileURLToPath(new URL(`../../bench/${name}`, import.meta.url))
}

/** Compiles the C load generator and origin with `cc -O2` into `dir`. */
export async function compileLoadgen(dir: string): Promise<Tools> {
  const tools = { loadgen: join(dir, 'loadgen'), origin: join(dir, 'origin') }
  await Promise.all([
    run('cc', ['-O2', '-o', tools.loadgen, sourcePath('loadgen.c')]),
    run('cc', ['-O2', '-o', tools.origin, sourcePath('origin.c')]),
  ])
  return tools
}
