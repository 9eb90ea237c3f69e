/**
 * Discovery files: each running proxy writes `<runtimeDir>/proxies/<pid>.json` (0600) naming its admin
 * URL and token file, so `guarded-proxy approvals` in another terminal finds it (including the proxy of a
 * `guarded-run`, whose sandbox cannot see the runtime directory). Files of dead processes are removed by readers.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** What a discovery file says about one running proxy. */
export interface DiscoveryEntry {
  readonly pid: number
  readonly admin_url: string
  /** Path of the admin token file (never the token itself). */
  readonly token_file: string
  readonly proxy_urls: readonly string[]
  readonly started_at: string
  /** What started it: `serve`, or `guarded-run <session>`. */
  readonly label: string
}

/** A written discovery file; `remove` is called when the proxy closes. */
export interface DiscoveryFile {
  readonly file: string
  remove(): Promise<void>
}

/** The folder holding discovery files, inside the per-user runtime directory. */
export function discoveryDir(runtime: string): string {
  return join(runtime, 'proxies')
}

/**
 * Writes the entry atomically (temp file, then rename), so a reader never sees half a file.
 * A second proxy in the same process (tests, benchmarks) gets `<pid>-2.json` rather than overwriting the first.
 */
export async function writeDiscovery(runtime: string, entry: DiscoveryEntry): Promise<DiscoveryFile> {
  const dir = discoveryDir(runtime)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const taken = new Set(await readdir(dir))
  let name = `${entry.pid}.json`
  for (let n = 2; taken.has(name); n++) name = `${entry.pid}-${n}.json`
  const file = join(dir, name)
  const temp = join(dir, `.${name}.tmp`)
  await writeFile(temp, JSON.stringify(entry, null, 2) + '\n', { mode: 0o600 })
  await rename(temp, file)
  return { file, remove: () => rm(file, { force: true }) }
}

/** The entries of live proxies, oldest first; files of dead processes are deleted, unreadable ones skipped. */
export async function readDiscovery(runtime: string, isAlive: (pid: number) => boolean = pidAlive): Promise<DiscoveryEntry[]> {
  const dir = discoveryDir(runtime)
  const names = await readdir(dir).catch(() => [] as string[])
  const entries: DiscoveryEntry[] = []
  for (const name of names.filter((n) => /^\d+(-\d+)?\.json$/.test(n))) {
    const entry = parseEntry(await readFile(join(dir, name), 'utf8').catch(() => ''))
    if (!entry) continue
    if (isAlive(entry.pid)) entries.push(entry)
    else await rm(join(dir, name), { force: true })
  }
  return entries.sort((a, b) => a.started_at.localeCompare(b.started_at))
}

/** Signal 0 checks existence without touching the process; EPERM means it lives but belongs to someone else. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function parseEntry(text: string): DiscoveryEntry | undefined {
  try {
    const value = JSON.parse(text) as Partial<DiscoveryEntry>
    const ok = Number.isInteger(value.pid) && typeof value.admin_url === 'string' && typeof value.token_file === 'string'
    return ok ? ({ proxy_urls: [], started_at: '', label: '', ...value } as DiscoveryEntry) : undefined
  } catch {
    return undefined
  }
}
