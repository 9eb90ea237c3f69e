/**
 * The audit log: JSON Lines, one record per line, written in order by a single writer (so lines are
 * never interleaved or torn), rotated by size, reopened on SIGHUP, behind a bounded buffer.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { write as writeFd } from 'node:fs'
import { promisify } from 'node:util'
import type { Gate, ProxyEvent, Sink } from '../events.js'
import { auditLines } from './audit-lines.js'
import { AuditQueue } from './audit-queue.js'

/** Audit log settings. */
export interface AuditLogOptions {
  /** File path, or `-` for standard output. */
  readonly path: string
  /** Rotate when the file passes this many bytes (0: never). */
  readonly maxBytes: number
  /** Rotated files kept beside the live one (`audit.jsonl.1` is the newest). */
  readonly keep: number
  /** Records buffered at most before new connections wait (`block`) or records are dropped (`drop`). */
  readonly bufferRecords: number
  readonly onFull: 'block' | 'drop'
  /** Leave prompt text out of the log (prompt IDs stay). */
  readonly redactPromptText: boolean
}

/** A running audit log. */
export interface AuditLog {
  readonly sink: Sink
  readonly gate: Gate
  /** Closes and reopens the file (after an external rotation: logrotate, SIGHUP). */
  reopen(): Promise<void>
  /** Resolves once everything emitted so far is written. */
  flush(): Promise<void>
  close(): Promise<void>
  stats(): { written: number; dropped: number; buffered: number }
}

const BATCH = 512
const COALESCE_MS = 10
const writeStdout = promisify(writeFd)

/** Opens the log (creating it 0600) and returns its sink and gate. */
export async function openAuditLog(options: AuditLogOptions): Promise<AuditLog> {
  const toStdout = options.path === '-'
  let file = await openFile(options.path)
  // Only a regular file is rotated: renaming /dev/null, a pipe or a terminal to `.1` would take the
  // device away from everything else on the machine, and put an ordinary file in its place.
  let { size, regular } = await describe(file)
  const queue = new AuditQueue(BATCH, auditLines(options.redactPromptText))
  // The batch being written; after an error its unwritten tail is retried, so no line is torn or doubled.
  let pending: { data: Buffer; records: number } | undefined
  let writing: Promise<void> | undefined
  let roomWaiters: (() => void)[] = []
  let reopenWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = []
  // While writes fail (disk full, file gone) the gate stays shut: records are kept, new connections refused.
  let failure: unknown
  let retry: NodeJS.Timeout | undefined
  let due: NodeJS.Timeout | undefined
  // Callers of flush() and close() waiting: write everything now rather than after COALESCE_MS.
  let urgent = 0
  // Decisions the gate's own refusals dropped: their closes go too, and no other close does.
  const droppedDecisions = new Set<string>()
  const counts = { written: 0, dropped: 0 }

  const ensureOpen = async (): Promise<void> => {
    if (toStdout || file) return
    file = await openFile(options.path)
    const opened = await describe(file)
    size = opened.size
    regular = opened.regular
  }
  const write = async (data: Buffer): Promise<number> => {
    if (toStdout) return (await writeStdout(1, data)).bytesWritten
    await ensureOpen()
    return (await file!.write(data)).bytesWritten
  }
  const rotate = async (): Promise<void> => {
    if (!file || !regular || options.maxBytes === 0 || size < options.maxBytes) return
    const old = file
    file = undefined
    await old.close()
    await shiftRotated(options.path, options.keep)
    await ensureOpen()
  }
  // Runs between batches (never under a write), so no write lands on a closed handle.
  const reopenNow = async (): Promise<void> => {
    const waiters = reopenWaiters
    reopenWaiters = []
    try {
      const old = file
      file = undefined
      await old?.close()
      await ensureOpen()
      waiters.forEach((w) => w.resolve())
    } catch (err) {
      waiters.forEach((w) => w.reject(err))
    }
  }
  const retryLater = (): void => {
    retry ??= setTimeout(() => {
      retry = undefined
      start()
    }, 1_000).unref()
  }
  // Enough waiting to fill a batch (or the buffer), or someone waiting for everything to be written.
  const ready = (): boolean => queue.length >= Math.min(BATCH, options.bufferRecords) || (urgent > 0 && queue.length > 0)
  // The first pass writes whatever is queued (the timer ran out, or a failed batch is retried); later
  // passes only while a full batch is ready, so a steady trickle still shares writes.
  const drainQueue = async (): Promise<void> => {
    for (let first = true; ; first = false) {
      if (reopenWaiters.length > 0) await reopenNow()
      if (!pending) {
        const batch = first || ready() ? queue.shift() : undefined
        if (!batch) return
        pending = { data: batch.data, records: batch.records }
      }
      try {
        while (pending.data.length > 0) {
          const n = await write(pending.data)
          pending.data = pending.data.subarray(n)
          size += n
        }
        counts.written += pending.records
        pending = undefined
        failure = undefined
        await rotate()
      } catch (err) {
        failure = err
        return retryLater()
      }
      if (queue.length < options.bufferRecords) {
        roomWaiters.forEach((w) => w())
        roomWaiters = []
      }
    }
  }
  const start = (): void => {
    clearTimeout(due)
    due = undefined
    writing ??= drainQueue().finally(() => {
      writing = undefined
      kick()
    })
  }
  // A write costs tens of microseconds of CPU whatever its size (a thread-pool round trip), and under
  // load each record used to get its own: lines now wait up to COALESCE_MS to share one (issue 4).
  const kick = (): void => {
    if (writing) return
    if (reopenWaiters.length > 0 || (failure === undefined && ready())) start()
    else if (failure === undefined && queue.length > 0) due ??= setTimeout(start, COALESCE_MS)
  }
  /** Writes everything queued now, and waits for it (or for a write to fail). */
  const drainAll = async (): Promise<void> => {
    urgent++
    try {
      kick()
      while (writing) await writing
    } finally {
      urgent--
    }
  }
  const full = (): boolean => failure !== undefined || queue.length >= options.bufferRecords

  const sink: Sink = (event) => {
    if (event.type === 'close' && droppedDecisions.delete(event['record.id'])) return void counts.dropped++
    // Over the limit, `block` still keeps records of connections already admitted (the gate stops new
    // ones); only the refusals the gate itself causes are dropped, and counted.
    if (full() && (options.onFull === 'drop' || isAuditRefusal(event))) {
      if (event.type === 'decision') droppedDecisions.add(event['record.id'])
      return void counts.dropped++
    }
    queue.push(event)
    if (failure === undefined) kick()
  }
  return {
    sink,
    // `drop` is the explicit opt-out from refusing connections: its gate never shuts.
    gate: { full: () => options.onFull === 'block' && full(), room: () => new Promise<void>((resolve) => roomWaiters.push(resolve)) },
    reopen: () =>
      new Promise<void>((resolve, reject) => {
        reopenWaiters.push({ resolve, reject })
        kick()
      }),
    flush: drainAll,
    async close() {
      clearTimeout(retry)
      await drainAll()
      clearTimeout(due)
      // What a failing destination never took is counted, not silently forgotten.
      counts.dropped += queue.clear() + (pending?.records ?? 0)
      pending = undefined
      await file?.close()
      file = undefined
    },
    stats: () => ({ ...counts, buffered: queue.length + (pending?.records ?? 0) }),
  }
}

/** A decision refused because the log was behind (`audit-unavailable`). */
function isAuditRefusal(event: ProxyEvent): boolean {
  return event.type === 'decision' && event['guarded.reason'] === 'audit-unavailable'
}

/** The open file's size, and whether it is a regular file (the only kind that is rotated). */
async function describe(file: FileHandle | undefined): Promise<{ size: number; regular: boolean }> {
  const stats = await file?.stat()
  return { size: stats?.size ?? 0, regular: stats?.isFile() ?? false }
}

async function openFile(path: string): Promise<FileHandle | undefined> {
  return path === '-' ? undefined : open(path, 'a', 0o600)
}

/** `audit.jsonl` → `.1`, `.1` → `.2`, …; the oldest beyond `keep` is removed. */
async function shiftRotated(path: string, keep: number): Promise<void> {
  await rm(`${path}.${keep}`, { force: true })
  for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => {})
  if (keep > 0) await rename(path, `${path}.1`)
  else await rm(path, { force: true })
}
