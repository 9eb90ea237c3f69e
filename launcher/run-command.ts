// `guarded-run -- COMMAND`: check the machine can enforce, start the sandbox,
// bring up the proxy (in-process, or a relay to `--proxy URL`) while the sandbox
// boots, then let the agent go, and tear everything down before reporting how
// the agent ended. The sandbox's start-up overlaps the proxy's (issue #5); the
// agent starts only once the proxy accepts connections.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { caPaths, defaultCaDir } from '../certs/ca-dir.js'
import { caTrustEnv, writeCaBundle } from './ca-trust-env.js'
import { runtimeDir } from '../proxy/admin-token.js'
import { buildChildEnv, defaultPreloadPath, withProxyUrl } from './child-env.js'
import { blockers, evaluateChecks, formatChecks, gatherFacts, type DoctorFacts } from './doctor.js'
import { holdSignals } from './hold-signals.js'
import { profileOverlay } from './profile-overlay.js'
import { findProfile, type Profile } from './profiles.js'
import { startProxyRelay } from './proxy-relay.js'
import { resolveRunPolicy } from './resolve-policy-files.js'
import type { ProxyTarget, RunFlags } from './run-flags.js'
import { startSandbox, type RunResult } from './run-sandboxed.js'
import type { DecisionCounts } from './run-summary.js'
import type { Timings } from './run-timings.js'
import { runUnconfined } from './run-unconfined.js'
import { PROXY_SOCKET_NAME } from './sandbox-defaults.js'
import { planSandbox } from './sandbox-plan.js'

/** What runCommand takes from the process it runs in. */
export interface RunIo {
  readonly env: NodeJS.ProcessEnv
  /** The workspace: the agent's writable working tree. */
  readonly cwd: string
  /** stdin is a terminal: keep the agent in our session for job control and SIGWINCH. */
  readonly interactive: boolean
  readonly timings: Timings
}

/** How the run ended; `counts` is null when a running proxy (`--proxy`) did the counting. */
export interface RunOutcome {
  readonly result: RunResult
  readonly counts: Readonly<DecisionCounts> | null
}

/** Exit status when guarded-run refused or failed to start the agent (as `env` and `docker run` use it). */
export const REFUSED_EXIT = 125

/** The proxy as the run sees it, whichever kind it is. */
interface ProxyLink {
  /** Unix socket the sandbox's forwarder connects to. */
  readonly socket: string
  /** Loopback port of the session listener (in-process proxy with --no-sandbox). */
  readonly port?: number
  /** The URL agents must use instead of the plain forwarder address, when credentials are needed. */
  readonly agentUrl: (forwarderPort: number) => string | null
  readonly counts: Readonly<DecisionCounts> | null
  /** Variables that make the agent trust the inspection CA (empty when nothing is inspected). */
  readonly trustEnv: Readonly<Record<string, string>>
}

type Cleanup = () => void | Promise<void>

/** How the agent will run: in a sandbox that is already starting, or unconfined. */
interface Launch {
  /** The port the agent's proxy variables name. */
  port(link: ProxyLink): number
  run(env: Readonly<Record<string, string>>): Promise<RunResult>
  /** The agent will not run after all; nothing once `run` was called. */
  cancel(): Promise<void>
}

/** Run the agent for `flags`; never throws after the proxy is up without tearing it down first. */
export async function runCommand(flags: RunFlags, io: RunIo): Promise<RunOutcome> {
  // The doctor's probes run on the other core while the sandbox is planned.
  const facts = flags.noSandbox ? null : gatherFacts()
  const home = io.env.HOME ?? homedir()
  const profile = findProfile(flags.command, home, flags.profile)
  const hold = holdSignals()
  const cleanups: Cleanup[] = []
  try {
    const runDir = mkdtempSync(join(tmpdir(), 'guarded-run-'))
    cleanups.push(() => rmSync(runDir, { recursive: true, force: true }))
    const launch = facts === null ? unconfined(flags) : await sandboxed(flags, profile, runDir, home, facts, io)
    if (typeof launch === 'string') return refuse(launch)
    cleanups.push(() => launch.cancel())
    const link = await connectProxy(flags, profile, runDir, io, cleanups)
    io.timings.mark('proxy-start')
    const held = hold.received()
    if (held !== null) return { result: { code: null, signal: held }, counts: link.counts }
    const result = await launch.run(agentEnv(io.env, launch.port(link), [...(profile?.keepEnv ?? []), ...flags.keepEnv], link))
    io.timings.mark('agent')
    return { result, counts: link.counts }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup()
    hold.release()
    io.timings.mark('teardown')
  }
}

/** The doctor's blockers as one message, or null when the machine can enforce. */
export function preflight(command: readonly string[], facts: DoctorFacts): string | null {
  const failing = blockers(evaluateChecks(facts))
  if (failing.length === 0) return null
  return `guarded-run: this machine cannot enforce the sandbox, so ${JSON.stringify(command.join(' '))} was not started:\n` +
    formatChecks(failing) +
    'Run `guarded-run doctor` for the full report. (--no-sandbox runs the agent unconfined; it is not a fix.)\n'
}

/**
 * Plan the sandbox and start it, agent held back; or the doctor's refusal. What the agent must not
 * read is known before the proxy starts: the in-process proxy's admin token, discovery file and
 * audit log go in the runtime directory, created here so that the plan covers it.
 */
async function sandboxed(flags: RunFlags, profile: Profile | null, runDir: string, home: string, facts: Promise<DoctorFacts>, io: RunIo): Promise<Launch | string> {
  if (flags.proxy === undefined) mkdirSync(runtimeDir(io.env), { recursive: true, mode: 0o700 })
  const plan = planSandbox({
    workspace: io.cwd, home, profile, secretFiles: [runtimeDir(io.env), ...caKey(io.env), runDir],
    allowWrite: flags.allowWrite, denyRead: flags.denyRead, protect: flags.protect,
    interactive: io.interactive,
  })
  io.timings.mark('plan')
  const refusal = preflight(flags.command, await facts)
  io.timings.mark('doctor')
  if (refusal !== null) return refusal
  if (!flags.quiet) for (const w of plan.warnings) process.stderr.write(`guarded-run: warning: ${w}\n`)
  const sandbox = startSandbox(plan, flags.command, { proxyDir: proxyDir(runDir) })
  io.timings.mark('sandbox-spawn')
  return { port: () => plan.proxyPort, run: (env) => sandbox.run(env), cancel: () => sandbox.cancel() }
}

function unconfined(flags: RunFlags): Launch {
  return { port: (link) => link.port ?? 0, run: (env) => runUnconfined(flags.command, env), cancel: async () => {} }
}

/** The directory for the proxy's Unix socket and nothing else: the sandbox binds it in. */
function proxyDir(runDir: string): string {
  const dir = join(runDir, 'proxy')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  return dir
}

function refuse(message: string): RunOutcome {
  process.stderr.write(message)
  return { result: { code: REFUSED_EXIT, signal: null }, counts: null }
}

async function connectProxy(flags: RunFlags, profile: Profile | null, runDir: string, io: RunIo, cleanups: Cleanup[]): Promise<ProxyLink> {
  const socket = join(proxyDir(runDir), PROXY_SOCKET_NAME)
  if (flags.proxy !== undefined) return relayTo(flags.proxy, socket, profile, flags, cleanups)
  // Loaded only here: a run against `--proxy URL` never pays for the proxy's modules.
  const { startRunProxy } = await import('./start-run-proxy.js')
  io.timings.mark('proxy-modules')
  const overlay = profileOverlay(profile)
  const overlays = overlay === null ? [] : [join(runDir, `profile-${profile?.name ?? ''}.yaml`)]
  if (overlay !== null && overlays[0] !== undefined) writeFileSync(overlays[0], overlay, { mode: 0o600 })
  const runPolicy = await resolveRunPolicy({ explicit: flags.policy, overlays }, io.env, io.cwd)
  if (!flags.quiet) for (const notice of runPolicy.notices) process.stderr.write(`guarded-run: ${notice}\n`)
  const proxy = await startRunProxy({
    policyFiles: runPolicy.policyFiles,
    overlays: runPolicy.overlays,
    resolve: flags.resolve,
    approvers: flags.approvers,
    ...(flags.auditLog !== undefined && { auditLog: flags.auditLog }),
    ...(flags.requirements !== undefined && { requirements: flags.requirements }),
    sessionListener: flags.noSandbox ? 'loopback' : { path: socket },
    env: io.env,
  })
  cleanups.push(() => proxy.close())
  if (flags.noSandbox && proxy.forbid.includes('no-sandbox')) throw new Error('--no-sandbox is forbidden by the managed requirements (forbid: [no-sandbox]); run without it')
  const trustEnv = proxy.caPem === undefined ? {} : caTrustEnv(await caBundle(proxy.caPem, proxy.sessionId, io.env, cleanups))
  return {
    socket, ...(proxy.port !== undefined && { port: proxy.port }), agentUrl: () => null, trustEnv,
    counts: proxy.counts,
  }
}

async function relayTo(target: ProxyTarget, socket: string, profile: Profile | null, flags: RunFlags, cleanups: Cleanup[]): Promise<ProxyLink> {
  if (profile !== null && profile.allowHosts.length > 0 && !flags.quiet) {
    process.stderr.write(`guarded-run: warning: with --proxy, profile ${profile.name}'s hosts (${profile.allowHosts.join(', ')}) are not added; allow them in that proxy's policy\n`)
  }
  const relay = await startProxyRelay(socket, target.host, target.port)
  cleanups.push(() => relay.close())
  const auth = target.credentials === null ? '' : `${encodeURIComponent(target.credentials.id)}:${encodeURIComponent(target.credentials.token)}@`
  const direct = `http://${auth}${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`
  return {
    socket,
    // Sandboxed: the forwarder's address with the session's credentials (visible to the agent: the --proxy trade-off).
    // Unconfined: the running proxy itself.
    agentUrl: (port) => (flags.noSandbox ? direct : auth === '' ? null : `http://${auth}127.0.0.1:${port}`),
    counts: null,
    trustEnv: {},
  }
}

function agentEnv(parent: NodeJS.ProcessEnv, port: number, keepEnv: readonly string[], link: ProxyLink): Record<string, string> {
  const env = { ...buildChildEnv(parent, { proxyPort: port, keepEnv, preloadPath: defaultPreloadPath() }), ...link.trustEnv }
  const url = link.agentUrl(port)
  return url === null ? env : withProxyUrl(env, url)
}

/**
 * The system roots plus our CA, written where the sandbox can read it: under HOME (read-only inside),
 * not in the run directory or /tmp, which the sandbox hides or replaces.
 */
async function caBundle(caPem: string, sessionId: string, env: NodeJS.ProcessEnv, cleanups: Cleanup[]): Promise<string> {
  const dir = join(env.HOME ?? homedir(), '.cache', 'guarded', sessionId)
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return writeCaBundle(dir, caPem)
}

function caKey(env: NodeJS.ProcessEnv): string[] {
  try {
    return [caPaths(defaultCaDir(env)).key]
  } catch {
    return [] // no HOME: no default CA directory to hide
  }
}
