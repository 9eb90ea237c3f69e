// The sandbox starts before the proxy is ready (issue #5) and holds the agent
// back until it is told to go: under real bwrap, with the stand-in proxy bound
// only after the sandbox started.
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { buildChildEnv, defaultPreloadPath } from '../../launcher/child-env.js'
import { startSandbox, type StartedSandbox } from '../../launcher/run-sandboxed.js'
import { planSandbox } from '../../launcher/sandbox-plan.js'
import { bwrapUsable, compileInit, makeFixture, ORIGIN_HOST, startOrigin, startStandInProxy, type Fixture } from './helpers/sandbox-harness.js'

if (process.platform !== 'linux' || !bwrapUsable()) {
  t.plan(0, 'needs Linux with bwrap and unprivileged user namespaces')
  process.exit(0)
}

/** Long enough for the outer layer's Node to have started on a busy machine, so the agent could have run by now. */
const SANDBOX_BOOT_MS = 1500

let init: string
t.before(() => { init = compileInit(t) })

/** A started sandbox for `script`, its output captured in files read by `output()`. */
function start(fx: Fixture, script: string): { sandbox: StartedSandbox; output(): { stdout: string; stderr: string } } {
  const plan = planSandbox({ workspace: fx.workspace, home: fx.home })
  const out = openSync(join(fx.root, 'out.1'), 'w')
  const err = openSync(join(fx.root, 'out.2'), 'w')
  t.teardown(() => { closeSync(out); closeSync(err) })
  const sandbox = startSandbox(plan, ['sh', '-c', script], { proxyDir: dirname(fx.socket), initScript: init, stdio: ['ignore', out, err] })
  return { sandbox, output: () => ({ stdout: readFileSync(join(fx.root, 'out.1'), 'utf8'), stderr: readFileSync(join(fx.root, 'out.2'), 'utf8') }) }
}

function agentEnv(fx: Fixture): Record<string, string> {
  return buildChildEnv({ PATH: process.env.PATH, HOME: fx.home, LANG: 'C' }, { proxyPort: 3128, keepEnv: [], preloadPath: defaultPreloadPath() })
}

t.test('the agent waits for its go, and then reaches a proxy that bound its socket after the sandbox started', async (t) => {
  const fx = makeFixture(t)
  const origin = await startOrigin(t)
  const { sandbox, output } = start(fx, `touch started && curl -sS --max-time 5 http://${ORIGIN_HOST}:${origin.port}/`)
  await sleep(SANDBOX_BOOT_MS)
  t.notOk(existsSync(join(fx.workspace, 'started')), 'no agent before the go')
  await startStandInProxy(t, fx.socket)
  const result = await sandbox.run(agentEnv(fx))
  t.same(result, { code: 0, signal: null }, output().stderr)
  t.equal(output().stdout, 'origin says hi\n', 'the first connection was carried, not refused')
})

t.test('called off before the go: the agent never runs and the run leaves nothing behind', async (t) => {
  const fx = makeFixture(t)
  const { sandbox } = start(fx, 'touch started')
  await sleep(SANDBOX_BOOT_MS)
  await sandbox.cancel()
  t.notOk(existsSync(join(fx.workspace, 'started')), 'the agent never ran')
  t.notOk(existsSync(join(fx.workspace, '.vscode')), 'the covers bwrap made for missing protected paths are removed')
  await sandbox.cancel() // twice is harmless
})

t.test('called off at once, while bwrap is still starting: the same', async (t) => {
  const fx = makeFixture(t)
  const { sandbox } = start(fx, 'touch started')
  await sandbox.cancel()
  await sleep(SANDBOX_BOOT_MS) // anything still running would have written by now
  t.notOk(existsSync(join(fx.workspace, 'started')), 'the agent never ran')
})
