/** A fresh temp directory that the test removes when it ends. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * Makes a fresh directory under tmpdir(), named `prefix` plus six random characters, and removes it,
 * with everything in it, at teardown. tap runs teardowns last-registered first, so whatever is
 * started afterwards with this directory (a proxy, a child process) is stopped before the directory
 * goes: call this before starting them.
 */
export async function tempDir(t: Teardown, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}
