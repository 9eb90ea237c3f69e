import t from 'tap'
import { decide } from '../../policy/decide.js'
import { generatePolicyText } from '../../policy/generate.js'
import { loadPolicy } from '../../policy/load.js'
import type { Destination, Policy, Rule } from '../../policy/types.js'

/** A destination each rule matches (an exact host, a subdomain, an address in the CIDR), on a port it covers. */
function hitFor(rule: Rule, i: number): Destination {
  const port = rule.ports.kind === 'range' ? rule.ports.from : 443
  const h = rule.host
  if (h.kind === 'exact') return { host: h.host, port, kind: 'name' }
  if (h.kind === 'wildcard') return { host: `build-${i}.ci.${h.suffix}`, port, kind: 'name' }
  return { host: h.address, port, kind: h.family }
}

/** 2,000 destinations shaped alike for any policy: half hit its rules (cycling), half miss. */
function destinationsFor(policy: Policy): Destination[] {
  return Array.from({ length: 2000 }, (_, i) => {
    const rule = policy.rules[(i * 7919) % policy.rules.length]
    if (i % 2 === 0 && rule) return hitFor(rule, i)
    return i % 4 === 1 ? { host: `miss-${i}.nowhere-${i % 31}.example.org`, port: 443, kind: 'name' } : { host: `9.${i & 0xff}.${(i >> 8) & 0xff}.1`, port: 443, kind: 4 }
  })
}

/** CPU time, not wall time: other processes on a busy CI machine then do not count against us. */
function nsPerCall(policy: Policy, dests: readonly Destination[]): number {
  const start = process.cpuUsage()
  for (const dest of dests) decide(policy, dest)
  const used = process.cpuUsage(start)
  return ((used.user + used.system) * 1000) / dests.length
}

// Loading 100k rules takes seconds (YAML parsing dominates), more on a busy CI machine.
t.setTimeout(300_000)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

t.test('decide costs the same per call at 100,000 rules as at 10', async (t) => {
  const loadStart = process.hrtime.bigint()
  const big = loadPolicy([{ file: 'big.yaml', text: generatePolicyText(100_000) }])
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6
  const small = loadPolicy([{ file: 'small.yaml', text: generatePolicyText(10) }])
  const shape = (p: Policy) => new Set(p.rules.map((r) => (r.host.kind === 'cidr' ? `${r.host.family}/${r.host.prefix}` : r.host.kind)))
  t.same(shape(small), shape(big), 'the 10-rule baseline has every kind of rule and prefix length the big one has')
  t.equal(big.rules.length, 100_000)
  t.equal(small.rules.length, 10)

  const bigDests = destinationsFor(big)
  const smallDests = destinationsFor(small)
  const allowedBig = bigDests.filter((d) => decide(big, d).classification !== 'unknown').length
  t.ok(allowedBig >= 900, `the big policy's hits really match (${allowedBig} of 2000 classified)`)

  for (let i = 0; i < 5; i++) {
    nsPerCall(big, bigDests) // warm the JIT on both
    nsPerCall(small, smallDests)
  }
  const bigRuns: number[] = []
  const smallRuns: number[] = []
  for (let round = 0; round < 61; round++) { // interleaved, so drift in machine load hits both alike
    bigRuns.push(nsPerCall(big, bigDests))
    smallRuns.push(nsPerCall(small, smallDests))
  }
  const [bigNs, smallNs] = [median(bigRuns), median(smallRuns)]
  t.comment(`load 100k rules: ${loadMs.toFixed(0)} ms; decide median per call: 100k rules ${bigNs.toFixed(0)} ns, 10 rules ${smallNs.toFixed(0)} ns, ratio ${(bigNs / smallNs).toFixed(2)}`)
  t.ok(bigNs < 3 * smallNs, `100k-rule median (${bigNs.toFixed(0)} ns) is under 3x the 10-rule median (${smallNs.toFixed(0)} ns)`)
})

t.test('generatePolicyText makes exactly n valid rules of every kind', async (t) => {
  for (const n of [0, 1, 20, 1000]) t.equal(loadPolicy([{ file: `gen-${n}.yaml`, text: generatePolicyText(n) }]).rules.length, n, `${n} rules`)
  const kinds = new Set(loadPolicy([{ file: 'gen.yaml', text: generatePolicyText(1000) }]).rules.map((r) => `${r.action}:${r.host.kind}:${r.ports.kind}`))
  t.same([...kinds].sort(), ['allow:cidr:default', 'allow:exact:any', 'allow:exact:default', 'allow:exact:range', 'allow:wildcard:default', 'block:exact:default', 'block:wildcard:default'])
})
