// A filesystem as a table, for the pure planner.
import type { HostProbe, PathKind } from '../../../launcher/host-probe.js'

/** Paths that exist (`/a/b/` is a dir, `/a/b` a file; parents are implied dirs), plus symlinks. */
export function fakeProbe(entries: readonly string[], links: Readonly<Record<string, string>> = {}): HostProbe {
  const kinds = new Map<string, PathKind>()
  for (const e of entries) {
    const path = e.endsWith('/') ? e.slice(0, -1) : e
    kinds.set(path, e.endsWith('/') ? 'dir' : 'file')
    for (let p = parent(path); p !== '/'; p = parent(p)) kinds.set(p, 'dir')
  }
  const realpath = (path: string): string => {
    for (const [from, to] of Object.entries(links)) {
      if (path === from || path.startsWith(`${from}/`)) return realpath(to + path.slice(from.length))
    }
    return path
  }
  return {
    kind: (path) => kinds.get(realpath(path)) ?? 'missing',
    realpath,
    scan: (root, skip, limit) => {
      const all = [...new Set([...kinds.keys(), ...Object.keys(links)])]
        .filter((p) => p.startsWith(`${root}/`)).map((p) => p.slice(root.length + 1))
        .filter((rel) => !rel.split('/').slice(0, -1).some((part) => skip.includes(part))).sort()
      return { paths: all.slice(0, limit), truncated: all.length > limit }
    },
  }
}

function parent(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}
