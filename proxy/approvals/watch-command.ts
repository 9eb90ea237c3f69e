/** `guarded-proxy approvals watch`: the terminal around watch-state and watch-render (raw keys, the event stream, redraws). */
import type { AdminClient } from './admin-client.js'
import { target } from './format-approvals.js'
import { ANSI, renderWatch } from './watch-render.js'
import { applyEvent, applyList, INITIAL, moveSelection, readKeys, selectedApproval, type KeyAction, type WatchState } from './watch-state.js'

/** The terminal the view runs in; tests of the pure parts never need one, the end-to-end test uses a real pty. */
export interface WatchIo {
  readonly stdin: NodeJS.ReadStream
  readonly stdout: NodeJS.WriteStream
  readonly stderr: NodeJS.WritableStream
}

/** Redraw once a second so "expires in" counts down; refetch the list every 2 s because waiting counts change without events. */
const REDRAW_MS = 1_000
const REFRESH_MS = 2_000

/** Runs the view until `q`, Ctrl-C, a signal, or the proxy going away; resolves with the exit status. */
export async function watchCommand(connect: () => Promise<AdminClient & { name: string }>, io: WatchIo = process): Promise<number> {
  if (!io.stdin.isTTY || !io.stdout.isTTY) {
    io.stderr.write('guarded-proxy approvals: watch needs a terminal (stdin and stdout must be a TTY); from a script use `approvals list` and `approvals allow|deny ID`\n')
    return 2
  }
  const client = await connect()
  return new Promise((resolve) => {
    let state: WatchState = INITIAL
    const abort = new AbortController()
    // A zero-sized pty (script(1) without a terminal of its own) still gets a usable screen.
    const draw = (): void => void io.stdout.write(renderWatch(state, client.name, { columns: io.stdout.columns || 100, rows: io.stdout.rows || 30 }, Date.now()))
    const update = (next: WatchState): void => {
      state = next
      draw()
    }
    const redraw = setInterval(draw, REDRAW_MS)
    const refresh = setInterval(() => void client.list().then((list) => update(applyList(state, list)), () => {}), REFRESH_MS)
    const finish = (code: number, message?: string): void => {
      if (abort.signal.aborted) return
      abort.abort()
      clearInterval(redraw)
      clearInterval(refresh)
      io.stdin.off('data', onData)
      io.stdout.off('resize', draw)
      io.stdin.setRawMode(false)
      io.stdin.pause()
      io.stdout.write(ANSI.leave)
      if (message) io.stderr.write(`guarded-proxy approvals: ${message}\n`)
      resolve(code)
    }
    const act = (action: KeyAction): void => {
      if (action.kind === 'quit') return finish(0)
      if (action.kind === 'move') return update(moveSelection(state, action.by))
      const chosen = selectedApproval(state)
      if (!chosen) return update({ ...state, status: 'nothing selected' })
      const what = `${action.decision} ${target(chosen)} (${action.scope})`
      update({ ...state, status: `${what}…` })
      client.decide(chosen.id, action.decision, action.scope).then(
        (settled) => update({ ...state, status: `${what}: done, ${settled.waiting} waiting released` }),
        (err: Error) => update({ ...state, status: `${what} failed: ${err.message}` }),
      )
    }
    const onData = (chunk: string): void => readKeys(chunk).forEach(act)
    io.stdout.write(ANSI.enter)
    io.stdin.setRawMode(true)
    io.stdin.setEncoding('utf8')
    io.stdin.on('data', onData)
    io.stdin.resume()
    io.stdout.on('resize', draw)
    for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.once(signal, () => finish(0))
    draw()
    client.stream((event) => update(applyEvent(state, event)), abort.signal).then(
      () => finish(1, `the proxy at ${client.name} closed the event stream (did it stop?)`),
      (err: Error) => finish(1, err.message),
    )
  })
}
