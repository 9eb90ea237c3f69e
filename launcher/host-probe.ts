// The only place the planner touches the disk. Kept behind an interface so the
// planner stays pure and its tests describe a filesystem as a table.
import { lstatSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** What a path is once symlinks are followed. */
export type PathKind = 'file' | 'dir' | 'missing'

/** The workspace entries the scan saw, workspace-relative with `/` separators. */
export interface ScanResult {
  readonly paths: readonly string[]
  /** True when the scan stopped at its limit: globs may have missed files. */
  readonly truncated: boolean
}

/** Read-only questions the planner asks about the host filesystem. */
export interface HostProbe {
  /** The kind of `path`, following symlinks (a dangling link is `missing`). */
  kind(path: string): PathKind
  /** `path` with every symlink in its existing prefix resolved; a missing tail is kept as written. */
  realpath(path: string): string
  /** Every entry under `root`, not following symlinked directories and not entering `skipDirs`. */
  scan(root: string, skipDirs: readonly string[], limit: number): ScanResult
}

/** The probe backed by `node:fs`. */
export const hostProbe: HostProbe = Object.freeze({ kind, realpath, scan })

function kind(path: string): PathKind {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file'
  } catch {
    return 'missing'
  }
}

function realpath(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    const parent = dirname(path)
    return parent === path ? path : join(realpath(parent), basename(path))
  }
}

function scan(root: string, skipDirs: readonly string[], limit: number): ScanResult {
  const paths: string[] = []
  const queue = ['']
  while (queue.length > 0) {
    const rel = queue.shift() as string
    for (const name of safeReaddir(join(root, rel))) {
      if (paths.length >= limit) return { paths, truncated: true }
      const child = rel === '' ? name : `${rel}/${name}`
      paths.push(child)
      if (!skipDirs.includes(name) && isRealDir(join(root, child))) queue.push(child)
    }
  }
  return { paths, truncated: false }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return [] // unreadable directories hold nothing we could hide anyway
  }
}

function isRealDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory()
  } catch {
    return false
  }
}
