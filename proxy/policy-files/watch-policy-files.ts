/**
 * Watches the directories that hold the policy files, not the files: editors replace files by
 * rename, and Kubernetes updates a mounted ConfigMap by swapping the `..data` symlink, neither of
 * which a watch on the old file's inode would see. Events are debounced; the reloader then compares
 * contents, so a touch or an unrelated file in the same directory reloads nothing.
 */
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'

/** A running watch; `update` re-targets it after a reload found a different set of files. */
export interface PolicyWatch {
  update(files: readonly string[]): void
  close(): void
}

/** Calls `onChange` (debounced by `debounceMs`) when anything that could change the files' contents happens. */
export function watchPolicyFiles(files: readonly string[], onChange: () => void, debounceMs = 100): PolicyWatch {
  const watchers = new Map<string, FSWatcher>()
  let names = new Map<string, Set<string>>()
  let timer: NodeJS.Timeout | undefined
  const fire = (): void => {
    clearTimeout(timer)
    timer = setTimeout(onChange, debounceMs)
  }
  const relevant = (dir: string, name: string | null): boolean => name === null || name.startsWith('..') || (names.get(dir)?.has(name) ?? false)
  const update = (next: readonly string[]): void => {
    names = new Map()
    for (const file of next.map((f) => resolve(f))) names.set(dirname(file), (names.get(dirname(file)) ?? new Set()).add(basename(file)))
    for (const [dir, watcher] of watchers) {
      if (names.has(dir)) continue
      watcher.close()
      watchers.delete(dir)
    }
    for (const dir of names.keys()) {
      if (watchers.has(dir)) continue
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => (relevant(dir, name) ? fire() : undefined))
        watcher.on('error', () => watcher.close()) // the directory went away; SIGHUP still reloads
        watchers.set(dir, watcher)
      } catch {
        // An unwatchable directory (gone, or no inotify left) costs automatic reload only; SIGHUP still works.
      }
    }
  }
  update(files)
  return {
    update,
    close() {
      clearTimeout(timer)
      for (const watcher of watchers.values()) watcher.close()
      watchers.clear()
    },
  }
}
