/** A named pipe as a slow audit destination: the test decides when its reader reads. */
import { execFileSync } from 'node:child_process'
import { createReadStream, type ReadStream } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './temp-dir.js'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The pipe's path and everything read from it so far. */
export interface Fifo {
  readonly path: string
  /** Text read so far. */
  text(): string
  /** Stops reading: the writer blocks once the kernel's pipe buffer (64 KiB on Linux) is full. */
  pause(): void
  resume(): void
}

/** Creates the FIFO and a reader that starts paused (the writer's open completes when the reader's does). */
export async function makeFifo(t: Teardown): Promise<Fifo> {
  const dir = await tempDir(t, 'guarded-fifo-')
  const path = join(dir, 'audit.fifo')
  execFileSync('mkfifo', ['-m', '600', path])
  let text = ''
  const stream: ReadStream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1024 })
  stream.on('data', (chunk) => (text += String(chunk)))
  stream.on('error', () => {})
  stream.pause()
  t.teardown(() => {
    stream.resume()
  })
  return { path, text: () => text, pause: () => void stream.pause(), resume: () => void stream.resume() }
}
