// Between start-up and teardown a signal must not kill guarded-run outright:
// the proxy's token file, the discovery file and the temp dir would stay behind.
// While held, a signal is remembered; the run then skips the agent, tears down
// and ends with that signal. During the agent's run, runSandboxed relays them.

/** Signals held; the terminal's ^C and ^\ included. */
const HELD = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const

/** A hold on the signals above. */
export interface SignalHold {
  /** The first signal received while held, or null. */
  received(): NodeJS.Signals | null
  release(): void
}

/** Start holding. */
export function holdSignals(): SignalHold {
  let first: NodeJS.Signals | null = null
  const handler = (sig: NodeJS.Signals): void => { first ??= sig }
  for (const sig of HELD) process.on(sig, handler)
  return {
    received: () => first,
    release: () => { for (const sig of HELD) process.off(sig, handler) },
  }
}
