// GUARDED_RUN_TIMINGS=1: where guarded-run's start-up time goes, one line on
// stderr at the end. performance.now() counts from process start, so the first
// mark includes Node's own boot.

/** Named phases, each measured from the previous mark. */
export interface Timings {
  /** Close the phase that ends now. */
  mark(phase: string): void
  /** `guarded-run timings: node 40ms, modules 25ms, ... total 310ms`, or '' when disabled. */
  report(): string
}

/** Timings that record only when `enabled`. */
export function createTimings(enabled: boolean): Timings {
  const phases: [string, number][] = []
  let last = 0
  return {
    mark(phase) {
      if (!enabled) return
      const now = performance.now()
      phases.push([phase, now - last])
      last = now
    },
    report() {
      if (!enabled) return ''
      const parts = phases.map(([name, ms]) => `${name} ${Math.round(ms)}ms`)
      return `guarded-run timings: ${parts.join(', ')}, total ${Math.round(last)}ms\n`
    },
  }
}
