import type { Decision, Destination, Policy, Rule } from '../policy/types.js'
import { percentile } from './percentile.js'
import type { ClassifyFigures } from './types.js'

/** The policy module's API as the bench uses it (policy/index.ts and policy/generate.ts). */
interface PolicyApi {
  loadPolicy(sources: { file: string; text: string }[]): Policy
  decide(policy: Policy, query: Destination): Decision
  generatePolicyText(n: number): string
}

/** Policy sizes the issue asks for. */
export const RULE_COUNTS = [10, 100_000] as const

const WARMUP_CALLS = 20_000
const TIMED_CALLS = 200_000

/**
 * Loads the policy module at run time, so the bench builds and runs before that module lands.
 * The specifiers are computed, not literal, for the same reason: tsc must not require the files.
 */
export async function loadPolicyApi(): Promise<PolicyApi | undefined> {
  const at = (file: string): string => new URL(`../policy/${file}`, import.meta.url).href
  try {
    const [index, generate] = await Promise.all([import(at('index.js')), import(at('generate.js'))])
    const api = { ...generate, ...index } as Partial<PolicyApi>
    if (typeof api.loadPolicy !== 'function' || typeof api.decide !== 'function' ||
        typeof api.generatePolicyText !== 'function') return undefined
    return api as PolicyApi
  } catch {
    return undefined
  }
}

/** A name a rule would match, on a port it allows; undefined for CIDR rules (not a name query). */
function hitFor(rule: Rule): Destination | undefined {
  const port = rule.ports.kind === 'range' ? rule.ports.from : 443
  if (rule.host.kind === 'exact') return { host: rule.host.host, port, kind: 'name' }
  if (rule.host.kind === 'wildcard') return { host: `bench.${rule.host.suffix}`, port, kind: 'name' }
  return undefined
}

/** Half names the policy knows (spread over its rules), half it does not: both paths count. */
function queriesFor(policy: Policy, count: number): Destination[] {
  const step = Math.max(1, Math.floor(policy.rules.length / count))
  const hits = policy.rules.filter((_, i) => i % step === 0).slice(0, count).flatMap(r => hitFor(r) ?? [])
  const misses = Array.from({ length: count }, (_, i) => ({ host: `miss-${i}.example.invalid`, port: 443, kind: 'name' as const }))
  return hits.flatMap((hit, i) => [hit, misses[i]!]).concat(misses.slice(hits.length))
}

/** The cost of two hrtime reads, subtracted from every sample. */
function timerOverheadNs(): number {
  const samples: number[] = []
  for (let i = 0; i < 10_000; i++) {
    const t0 = process.hrtime.bigint()
    samples.push(Number(process.hrtime.bigint() - t0))
  }
  return percentile(samples, 0.5)
}

/** Times `decide` call by call; each sample is one call minus the timer's own cost. */
function timeDecide(api: PolicyApi, policy: Policy, queries: Destination[]): { medianNs: number; p99Ns: number } {
  let sink = 0 // consumed below so the calls cannot be optimised away
  for (let i = 0; i < WARMUP_CALLS; i++) sink += api.decide(policy, queries[i % queries.length]!).action.length
  const overhead = timerOverheadNs()
  const samples = new Array<number>(TIMED_CALLS)
  for (let i = 0; i < TIMED_CALLS; i++) {
    const query = queries[i % queries.length]!
    const t0 = process.hrtime.bigint()
    sink += api.decide(policy, query).action.length
    samples[i] = Math.max(0, Number(process.hrtime.bigint() - t0) - overhead)
  }
  if (sink < 0) throw new Error('unreachable')
  return { medianNs: percentile(samples, 0.5), p99Ns: percentile(samples, 0.99) }
}

/** Load time and per-call `decide` time for one generated policy size. */
export function measureClassify(api: PolicyApi, rules: number): ClassifyFigures {
  const text = api.generatePolicyText(rules)
  const t0 = performance.now()
  const policy = api.loadPolicy([{ file: `generated-${rules}.yaml`, text }])
  const loadMs = performance.now() - t0
  return { rules, loadMs, ...timeDecide(api, policy, queriesFor(policy, 512)) }
}
