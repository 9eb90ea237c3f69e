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
import { measureLoad, PHASE } from './measure-load.js'
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

/** Idle memory on the fresh proxy first, then the load phases, then stop it whatever happened. */
async function measureProxy(tools: Tools, origin: Origin, proxy: ProxyUnderTest, notes: string[]): Promise<LoadFigures> {
  try {
    progress(`${proxy.via}: ${IDLE_TUNNELS} idle tunnels`)
    const idle = await measureIdle(tools, origin, proxy)
    if (idle.open < IDLE_TUNNELS) notes.push(`${proxy.via}: only ${idle.open} of ${IDLE_TUNNELS} idle tunnels opened (${idle.errors} errors, first: ${idle.firstError})`)
    await sleep(AFTER_IDLE_MS)
    progress(`${proxy.via}: load phases`)
    return { ...(await measureLoad(tools, origin, proxy)), idleBytesPerTunnel: idle.bytesPerTunnel }
  } finally {
    await proxy.stop()
  }
}

/** Starts one proxy and measures it; a proxy that fails to start or to carry load becomes a note, not a crash. */
async function measureVia(via: Via, start: () => Promise<ProxyUnderTest>, tools: Tools, origin: Origin,
  notes: string[]): Promise<LoadFigures | undefined> {
  try {
    return await measureProxy(tools, origin, await start(), notes)
  } catch (err) {
    notes.push(`${via}: not measured: ${(err as Error).message.split('\n')[0]}`)
    return undefined
  }
}

async function measurePaths(tools: Tools, origin: Origin, dir: string, notes: string[]): Promise<BenchReport['paths']> {
  progress('direct: load phases')
  const paths: Partial<Record<Via, LoadFigures>> = { direct: await measureLoad(tools, origin) }
  if (proxyBuilt()) paths.guarded = await measureVia('guarded', () => startProxy(origin, dir), tools, origin, notes)
  else notes.push('guarded: dist/proxy/cli.js is not built yet, so only direct and Squid were measured')
  const squid = findSquid()
  if (squid) paths.squid = await measureVia('squid', () => startSquid(squid, origin, dir), tools, origin, notes)
  else notes.push('squid is not installed (apt-get install -y squid): no Squid figures or ratios')
  return paths
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
    `load phases: ${PHASE.warmup} s warm-up + ${PHASE.seconds} s measured; 1 tunnel for throughput, ${PHASE.clients} clients for CONNECT and HTTP; MB = 10^6 bytes`,
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
