/**
 * The audit log: JSON Lines, one record per line, written in order by a single writer (so lines are
 * never interleaved or torn), rotated by size, reopened on SIGHUP, behind a bounded buffer.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import { write as writeFd } from 'node:fs'
import { promisify } from 'node:util'
import type { Gate, ProxyEvent, Sink } from '../events.js'

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

const SCHEMA = 'guarded.audit/v1'
const BATCH = 512
const writeStdout = promisify(writeFd)

/** Opens the log (creating it 0600) and returns its sink and gate. */
export async function openAuditLog(options: AuditLogOptions): Promise<AuditLog> {
  const toStdout = options.path === '-'
  let file = await openFile(options.path)
  let size = file ? (await file.stat()).size : 0
  const queue: string[] = []
  // The batch being written; after an error its unwritten tail is retried, so no line is torn or doubled.
  let pending: { data: Buffer; records: number } | undefined
  let writing: Promise<void> | undefined
  let roomWaiters: (() => void)[] = []
  let reopenWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = []
  // While writes fail (disk full, file gone) the gate stays shut: records are kept, new connections refused.
  let failure: unknown
  let retry: NodeJS.Timeout | undefined
  // Decisions the gate's own refusals dropped: their closes go too, and no other close does.
  const droppedDecisions = new Set<string>()
  const counts = { written: 0, dropped: 0 }

  const ensureOpen = async (): Promise<void> => {
    if (toStdout || file) return
    file = await openFile(options.path)
    size = file ? (await file.stat()).size : 0
  }
  const write = async (data: Buffer): Promise<number> => {
    if (toStdout) return (await writeStdout(1, data)).bytesWritten
    await ensureOpen()
    return (await file!.write(data)).bytesWritten
  }
  const rotate = async (): Promise<void> => {
    if (!file || options.maxBytes === 0 || size < options.maxBytes) return
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
      kick()
    }, 1_000).unref()
  }
  const drainQueue = async (): Promise<void> => {
    for (;;) {
      if (reopenWaiters.length > 0) await reopenNow()
      if (!pending) {
        if (queue.length === 0) return
        const batch = queue.splice(0, BATCH)
        pending = { data: Buffer.from(batch.join('')), records: batch.length }
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
  const kick = (): void => {
    writing ??= drainQueue().finally(() => {
      writing = undefined
      if ((queue.length > 0 && failure === undefined) || reopenWaiters.length > 0) kick()
    })
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
    queue.push(serialise(event, options.redactPromptText))
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
    async flush() {
      while (writing) await writing
    },
    async close() {
      clearTimeout(retry)
      while (writing) await writing
      // What a failing destination never took is counted, not silently forgotten.
      counts.dropped += queue.splice(0).length + (pending?.records ?? 0)
      pending = undefined
      await file?.close()
      file = undefined
    },
    stats: () => ({ ...counts, buffered: queue.length + (pending?.records ?? 0) }),
  }
}

function serialise(event: ProxyEvent, redact: boolean): string {
  const record: Record<string, unknown> = { schema: SCHEMA, ...event }
  if (redact) delete record['guarded.prompt.text']
  return JSON.stringify(record) + '\n'
}

/** A decision refused because the log was behind (`audit-unavailable`). */
function isAuditRefusal(event: ProxyEvent): boolean {
  return event.type === 'decision' && event['guarded.reason'] === 'audit-unavailable'
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
