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
  let file = await openFile(options.path)
  let size = file ? (await file.stat()).size : 0
  const queue: string[] = []
  let writing: Promise<void> | undefined
  let roomWaiters: (() => void)[] = []
  const counts = { written: 0, dropped: 0 }

  const write = async (text: string): Promise<void> => {
    if (file) await file.write(text)
    else await writeStdout(1, text)
    size += Buffer.byteLength(text)
  }
  const rotate = async (): Promise<void> => {
    if (!file || options.maxBytes === 0 || size < options.maxBytes) return
    await file.close()
    await shiftRotated(options.path, options.keep)
    file = await openFile(options.path)
    size = 0
  }
  const drainQueue = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.splice(0, BATCH)
      await write(batch.join(''))
      counts.written += batch.length
      await rotate()
      if (queue.length < options.bufferRecords) {
        roomWaiters.forEach((w) => w())
        roomWaiters = []
      }
    }
  }
  const kick = (): void => {
    writing ??= drainQueue().finally(() => {
      writing = undefined
      if (queue.length > 0) kick()
    })
  }
  const full = (): boolean => queue.length >= options.bufferRecords

  const sink: Sink = (event) => {
    // Over the limit, `block` still keeps records of connections already admitted (the gate stops new
    // ones); only the refusals the gate itself causes are dropped, and counted.
    if (full() && (options.onFull === 'drop' || isAuditRefusal(event))) return void counts.dropped++
    queue.push(serialise(event, options.redactPromptText))
    kick()
  }
  return {
    sink,
    gate: { full, room: () => new Promise<void>((resolve) => roomWaiters.push(resolve)) },
    async reopen() {
      await writing
      await file?.close()
      file = await openFile(options.path)
      size = file ? (await file.stat()).size : 0
    },
    async flush() {
      while (writing) await writing
    },
    async close() {
      while (writing) await writing
      await file?.close()
      file = undefined
    },
    stats: () => ({ ...counts, buffered: queue.length }),
  }
}

function serialise(event: ProxyEvent, redact: boolean): string {
  const record: Record<string, unknown> = { schema: SCHEMA, ...event }
  if (redact) delete record['guarded.prompt.text']
  return JSON.stringify(record) + '\n'
}

function isAuditRefusal(event: ProxyEvent): boolean {
  return event.type === 'decision' ? event['guarded.reason'] === 'audit-unavailable' : event['guarded.outcome'] === 'refused'
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
