/**
 * `npm run bench`: our proxy and (when installed) Squid against a direct connection to the same
 * loopback origin, with a C load generator; then approvals, event sinks, guarded-run start-up and TLS
 * inspection against the issues' absolute targets. Prints a table; reports targets, never fails on them.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { compileLoadgen } from './compile-loadgen.js'
import type { Sections } from './format-sections.js'
import { measureApprovals } from './measure-approvals.js'
import { loadPolicyApi, measureClassify, RULE_COUNTS } from './measure-classify.js'
import { IDLE_TUNNELS, measureIdle } from './measure-idle.js'
import { measureInspection } from './measure-inspection.js'
import { measureLoad, medianOfRounds, PHASE, warmUp } from './measure-load.js'
import { measureSinks } from './measure-sinks.js'
import { measureStartup } from './measure-startup.js'
import { formatReport, type BenchReport } from './report.js'
import { watchCore } from './proc-stats.js'
import { CORES } from './spawn-pinned.js'
import { proxyBuilt, startProxy } from './start-proxy.js'
import { startOrigin } from './start-origin.js'
import { findSquid, startSquid } from './start-squid.js'
import type { ClassifyFigures, LoadFigures, Origin, ProxyUnderTest, Tools, Via } from './types.js'

/** Lets the proxy close the idle tunnels' sockets before the load phases start. */
const AFTER_IDLE_MS = 1000

function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`)
}

/** This script shares the load core, so it never competes with the proxy for core 0. */
function pinSelf(): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(CORES.load), String(process.pid)], { stdio: 'ignore' })
}

/** A proxy being measured, with the idle memory taken while it was fresh. */
interface Running {
  readonly proxy: ProxyUnderTest
  readonly idleBytesPerTunnel: number
}

/** Starts one proxy and measures idle memory on it fresh; a proxy that fails to start becomes a note, not a crash. */
async function startFresh(via: Via, start: () => Promise<ProxyUnderTest>, tools: Tools, origin: Origin, notes: string[]): Promise<Running | undefined> {
  let proxy: ProxyUnderTest | undefined
  try {
    proxy = await start()
    progress(`${via}: ${IDLE_TUNNELS} idle tunnels`)
    const idle = await measureIdle(tools, origin, proxy)
    if (idle.open < IDLE_TUNNELS) notes.push(`${via}: only ${idle.open} of ${IDLE_TUNNELS} idle tunnels opened (${idle.errors} errors, first: ${idle.firstError})`)
    return { proxy, idleBytesPerTunnel: idle.bytesPerTunnel }
  } catch (err) {
    await proxy?.stop()
    notes.push(`${via}: not measured: ${(err as Error).message.split('\n')[0]}`)
    return undefined
  }
}

/** One line per proxy with every round's figures, so the spread behind each median is visible. */
function roundsNote(via: Via, rounds: readonly LoadFigures[]): string {
  const list = (pick: (f: LoadFigures) => number): string => rounds.map(f => pick(f).toFixed(0)).join(', ')
  return `${via} rounds: tunnel MB/s ${list(f => f.tunnelMBps.value)}; CONNECT/s ${list(f => f.connectPerS.value)}; HTTP req/s ${list(f => f.httpPerS.value)}`
}

/**
 * Idle memory on each fresh proxy, an unrecorded warm-up, then `PHASE.rounds` rounds of the three
 * phases over direct, guarded and Squid in turn; each figure is the median over the rounds. A proxy that fails
 * during a round becomes a note and leaves the later rounds.
 */
async function measurePaths(tools: Tools, origin: Origin, dir: string, notes: string[]): Promise<BenchReport['paths']> {
  const running: Running[] = []
  try {
    if (proxyBuilt()) running.push(...[await startFresh('guarded', () => startProxy(origin, dir), tools, origin, notes)].filter(r => r !== undefined))
    else notes.push('guarded: dist/proxy/cli.js is not built yet, so only direct and Squid were measured')
    const squid = findSquid()
    if (squid) running.push(...[await startFresh('squid', () => startSquid(squid, origin, dir), tools, origin, notes)].filter(r => r !== undefined))
    else notes.push('squid is not installed (apt-get install -y squid): no Squid figures or ratios')
    await sleep(AFTER_IDLE_MS)
    for (const { proxy } of running) {
      progress(`${proxy.via}: ${PHASE.jitWarmup} s warm-up load`)
      await warmUp(tools, origin, proxy)
    }
    const rounds: Record<Via, LoadFigures[]> = { direct: [], guarded: [], squid: [] }
    for (let round = 1; round <= PHASE.rounds; round++) {
      progress(`round ${round} of ${PHASE.rounds}: direct${running.map(r => `, ${r.proxy.via}`).join('')}`)
      rounds.direct.push(await measureLoad(tools, origin))
      for (const r of [...running]) {
        try {
          rounds[r.proxy.via].push({ ...(await measureLoad(tools, origin, r.proxy)), idleBytesPerTunnel: r.idleBytesPerTunnel })
        } catch (err) {
          notes.push(`${r.proxy.via}: failed in round ${round}: ${(err as Error).message.split('\n')[0]}`)
          running.splice(running.indexOf(r), 1)
          await r.proxy.stop()
        }
      }
    }
    const paths: Partial<Record<Via, LoadFigures>> = {}
    for (const via of ['direct', 'guarded', 'squid'] as const) {
      if (rounds[via].length === 0) continue
      paths[via] = medianOfRounds(rounds[via])
      notes.push(roundsNote(via, rounds[via]))
    }
    return paths
  } finally {
    for (const { proxy } of running) await proxy.stop()
  }
}

async function classify(notes: string[]): Promise<ClassifyFigures[] | undefined> {
  const api = await loadPolicyApi()
  if (!api) {
    notes.push('policy module (dist/policy/index.js, generate.js) not built yet: classification skipped')
    return undefined
  }
  progress('classification')
  return RULE_COUNTS.map(rules => measureClassify(api, rules))
}

/** Runs one section; a section that fails becomes a note and the run goes on without it. */
async function section<T>(name: string, notes: string[], measure: () => Promise<T>): Promise<T | undefined> {
  progress(name)
  try {
    return await measure()
  } catch (err) {
    notes.push(`${name}: not measured: ${(err as Error).message.split('\n')[0]}`)
    return undefined
  }
}

/** The sections with absolute targets (issues 3–6); the first two need our proxy built. */
async function measureSections(tools: Tools, origin: Origin, dir: string, notes: string[]): Promise<Sections> {
  const built = proxyBuilt()
  const approvals = built ? await section('approvals', notes, () => measureApprovals(origin, dir)) : undefined
  const sinks = built ? await section('event sinks', notes, () => measureSinks(tools, origin, dir)) : undefined
  const startup = await section('guarded-run start-up', notes, () => measureStartup(dir))
  const inspection = await section('TLS inspection', notes, () => measureInspection())
  return { ...(approvals && { approvals }), ...(sinks && { sinks }), ...(startup && { startup }), ...(inspection && { inspection }) }
}

/** How busy both cores are before we add any load: other sessions' work shows up here. */
async function backgroundLoad(): Promise<string> {
  const watches = [CORES.proxy, CORES.load].map(core => watchCore(core))
  await sleep(1000)
  const shares = watches.map(w => `${(w() * 100).toFixed(0)}%`)
  return `background load before the run (1 s): core ${CORES.proxy} ${shares[0]} busy, core ${CORES.load} ${shares[1]} busy`
}

function preamble(background: string): string {
  return [
    `Guarded bench — Node ${process.version}, ${cpus().length} cores, ${new Date().toISOString()}`,
    `placement: proxy under test (guarded or squid) on core ${CORES.proxy}; C load generator, C origin and this script on core ${CORES.load} (taskset)`,
    background,
    `load phases: each proxy first carries ${PHASE.jitWarmup} s of unrecorded load; then ${PHASE.rounds} rounds of direct, guarded, Squid in turn, each phase ${PHASE.warmup} s warm-up + ${PHASE.seconds} s measured; figures are medians over the rounds`,
    `1 tunnel for throughput, ${PHASE.clients} clients for CONNECT and HTTP; MB = 10^6 bytes`,
    '',
  ].join('\n')
}

async function main(): Promise<void> {
  pinSelf()
  const background = await backgroundLoad()
  const dir = await mkdtemp(join(tmpdir(), 'guarded-bench-'))
  try {
    const tools = await compileLoadgen(dir)
    const origin = await startOrigin(tools)
    const notes: string[] = []
    try {
      const paths = await measurePaths(tools, origin, dir, notes)
      const figures = await classify(notes)
      const sections = await measureSections(tools, origin, dir, notes)
      process.stdout.write(`${preamble(background)}${formatReport({ paths, notes, ...sections, ...(figures ? { classify: figures } : {}) })}\n`)
    } finally {
      await origin.stop()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
