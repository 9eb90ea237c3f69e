/**
 * Builds a realistic n-rule policy for benchmarks and scale tests: mostly exact hosts, then
 * wildcards, ported hosts, IPv4 and IPv6 CIDRs, and a few block rules. Deterministic: rule i is
 * always the same text, so runs compare.
 */

/**
 * Which kind of rule each slot in a cycle of 20 gets: 9 exact, 4 wildcard, 3 ported, 3 CIDR, 1 block.
 * The first 10 already hold every kind (and every CIDR shape), so a 10-rule policy is a fair baseline.
 */
const CYCLE = 'ewcpewccpb' + 'eeweeweepe'

/** Returns the YAML text of a valid policy with exactly `n` allow/block rules. */
export function generatePolicyText(n: number): string {
  const allow: string[] = []
  const block: string[] = []
  for (let i = 0; i < n; i++) {
    const kind = CYCLE[i % CYCLE.length]
    if (kind === 'b') block.push(blockRule(i))
    else allow.push(allowRule(kind ?? 'e', i))
  }
  return ['version: 1', 'default: ask', 'allow:', ...allow.map(item), 'block:', ...block.map(item), ''].join('\n')
}

function item(pattern: string): string {
  return `  - "${pattern}"`
}

function allowRule(kind: string, i: number): string {
  if (kind === 'w') return `*.tenant-${i}.example.net`
  if (kind === 'p') return [`api-${i}.example.org:8443`, `svc-${i}.example.org:8000-8100`, `raw-${i}.example.org:*`][i % 3] ?? ''
  if (kind === 'c') return cidr(i)
  return `svc-${i}.team-${i % 997}.example-${i % 13}.com`
}

/** Public-looking networks: /24s from 11.0.0.0 up, /16s from 120.0.0.0 up, and IPv6 /48s. */
function cidr(i: number): string {
  if (i % 3 === 0) return `${11 + ((i >> 16) % 200)}.${(i >> 8) & 0xff}.${i & 0xff}.0/24`
  if (i % 3 === 1) return `2a00:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/48`
  return `${120 + ((i >> 8) % 60)}.${i & 0xff}.0.0/16`
}

function blockRule(i: number): string {
  return Math.floor(i / CYCLE.length) % 2 === 0 ? `*.paste-${i}.example.com` : `leak-${i}.example.io`
}
