/** Operational log (start-up, reloads, sink failures) as JSON lines on stderr; the audit log is separate. */
import { pino, type Logger } from 'pino'

/** Creates the process logger; tests pass their own destination. */
export function createLogger(destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ base: { name: 'guarded-proxy' }, timestamp: pino.stdTimeFunctions.isoTime }, destination)
}

export type { Logger }
