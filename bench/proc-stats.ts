import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/PID/stat times; 100 on every Linux this bench runs on. */
const TICKS_PER_SECOND = 100

/** Reads a /proc file, or undefined when the process has gone in the meantime. */
function readProc(path: string): string | undefined {
  try { return readFileSync(path, 'utf8') } catch { return undefined }
}

/** Fields of /proc/PID/stat after the command name, which may itself contain spaces and parens. */
function statFields(pid: number): string[] | undefined {
  const stat = readProc(`/proc/${pid}/stat`)
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** `root` and every descendant: Squid forks helpers (the log daemon) whose memory is Squid's too. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    const parent = Number.isInteger(pid) ? Number(statFields(pid)?.[1]) : NaN
    if (!Number.isNaN(parent)) children.set(parent, [...(children.get(parent) ?? []), pid])
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []))
  return tree
}

/** Summed VmRSS of a process tree, in bytes. */
export function treeRssBytes(root: number): number {
  return processTree(root).reduce((sum, pid) => {
    const kib = readProc(`/proc/${pid}/status`)?.match(/^VmRSS:\s+(\d+) kB$/m)?.[1]
    return sum + Number(kib ?? 0) * 1024
  }, 0)
}

/** Summed user+system CPU seconds of a process tree. */
export function treeCpuSeconds(root: number): number {
  return processTree(root).reduce((sum, pid) => {
    const fields = statFields(pid)
    // utime and stime are fields 14 and 15 of stat; fields[] starts at field 3
    return sum + (fields ? (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND : 0)
  }, 0)
}

/** Busy and total seconds of one core since boot, from /proc/stat (busy excludes idle and iowait). */
export function coreTimes(core: number): { busy: number; total: number } {
  const line = readProc('/proc/stat')?.split('\n').find(l => l.startsWith(`cpu${core} `))
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    line?.trim().split(/\s+/).slice(1).map(Number) ?? []
  const busy = user + nice + system + irq + softirq + steal
  return { busy: busy / TICKS_PER_SECOND, total: (busy + idle + iowait) / TICKS_PER_SECOND }
}

/** Starts watching a core; the returned function gives its busy share (0..1) since then. */
export function watchCore(core: number): () => number {
  const start = coreTimes(core)
  return () => {
    const end = coreTimes(core)
    return end.total > start.total ? (end.busy - start.busy) / (end.total - start.total) : NaN
  }
}
