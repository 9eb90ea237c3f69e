// How a sandbox's end is waited for, when it is called off or when bwrap dies while starting.
// bwrap killed between creating its sandbox and releasing it leaves the sandbox's first
// process blocked for good, holding the pipes guarded-run waits on. These tests stand a
// shell script in for bwrap (RunOptions.bwrap) so that each case happens every time.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { CANCEL_GRACE_MS, ORPHAN_GRACE_MS, startSandbox, type StartedSandbox } from '../../launcher/run-sandboxed.js'
import { planSandbox } from '../../launcher/sandbox-plan.js'
import { makeFixture, type Fixture } from './helpers/sandbox-harness.js'

if (process.platform !== 'linux') {
  t.plan(0, 'the sandbox runs on Linux only')
  process.exit(0)
}

/** A sandbox started with `script` (sh) standing in for bwrap; fd 3 is the status pipe, fd 5 the control pipe. */
function startFake(fx: Fixture, script: string): StartedSandbox {
  const bwrap = join(fx.root, 'fake-bwrap')
  writeFileSync(bwrap, `#!/bin/sh\n${script}\n`, { mode: 0o755 })
  const plan = planSandbox({ workspace: fx.workspace, home: fx.home })
  return startSandbox(plan, ['true'], { proxyDir: dirname(fx.socket), bwrap, stdio: ['ignore', 'ignore', 'ignore'] })
}

/** `promise`, or a failure after `ms`: a wait that never ends fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms) })
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer))
}

/** What this process writes to stderr while `fn` runs. */
async function stderrOf<T>(fn: () => Promise<T>): Promise<{ value: T; stderr: string }> {
  const write = process.stderr.write.bind(process.stderr)
  let stderr = ''
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += chunk.toString(); return true }) as typeof process.stderr.write
  try {
    return { value: await fn(), stderr }
  } finally {
    process.stderr.write = write
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('called off: the sandbox is left to end by itself, not killed mid-start', async (t) => {
  const fx = makeFixture(t)
  const mark = join(fx.root, 'ended')
  // As the init does: end of file on the control pipe without a go means exit without the agent.
  const sandbox = startFake(fx, `cat <&5 >/dev/null\nsleep 0.2\necho ended-by-itself > ${mark}\nexit 125`)
  const started = Date.now()
  await within(sandbox.cancel(), CANCEL_GRACE_MS + 5000, 'cancel')
  t.equal(readFileSync(mark, 'utf8'), 'ended-by-itself\n', 'the sandbox ran to its own end')
  t.ok(Date.now() - started < CANCEL_GRACE_MS, `ended well before the grace (${Date.now() - started} ms)`)
})

t.test('called off, and the sandbox does not end: bwrap is killed after the grace', async (t) => {
  const fx = makeFixture(t)
  const pidFile = join(fx.root, 'pid')
  const sandbox = startFake(fx, `echo $$ > ${pidFile}\nexec sleep 60`)
  while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8') === '') await new Promise((r) => setTimeout(r, 20))
  const pid = Number(readFileSync(pidFile, 'utf8'))
  const started = Date.now()
  await within(sandbox.cancel(), CANCEL_GRACE_MS + 5000, 'cancel')
  const took = Date.now() - started
  t.ok(took >= CANCEL_GRACE_MS - 50 && took < CANCEL_GRACE_MS + 3000, `killed after the grace of ${CANCEL_GRACE_MS} ms (${took} ms)`)
  t.notOk(alive(pid), 'the stand-in bwrap is gone')
})

t.test('bwrap ends while a process of its sandbox still holds the pipes: the wait ends, and says why', async (t) => {
  const fx = makeFixture(t)
  const holderFile = join(fx.root, 'holder')
  // The background sleep inherits fds 3 and 5, as the sandbox's blocked first process does.
  const sandbox = startFake(fx, `sleep 60 & echo $! > ${holderFile}\nexit 7`)
  t.teardown(() => { try { process.kill(Number(readFileSync(holderFile, 'utf8')), 'SIGKILL') } catch { /* already gone */ } })
  const started = Date.now()
  const { value: result, stderr } = await stderrOf(() => within(sandbox.run({}), ORPHAN_GRACE_MS + 8000, 'run'))
  const took = Date.now() - started
  t.same(result, { code: 7, signal: null }, "bwrap's own exit is the result")
  t.ok(took >= ORPHAN_GRACE_MS - 50, `waited the grace of ${ORPHAN_GRACE_MS} ms for the pipes first (${took} ms)`)
  t.match(stderr, /^guarded-run: bwrap \(pid \d+\) died while starting its sandbox; the sandbox's first process, also named bwrap, is left waiting and can be killed\n$/)
  t.ok(alive(Number(readFileSync(holderFile, 'utf8'))), 'the holder was not waited for, and is still there')
})
