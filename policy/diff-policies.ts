/**
 * `policy diff`: which destinations change classification between two policies, over a list of
 * sample destinations and every host either policy names (a wildcard contributes one subdomain and
 * its apex; a CIDR its network address), on 443 and every port a rule names.
 */
import { decide } from './decide.js'
import { describeRule } from './explain-decision.js'
import { formatDestination, parseDestination } from './parse-destination.js'
import type { Decision, Destination, Policy, Rule } from './types.js'

/** Destinations worth checking even when neither policy names them: the usual places agents go. */
export const SAMPLE_DESTINATIONS: readonly string[] = [
  'registry.npmjs.org', 'pypi.org', 'files.pythonhosted.org', 'crates.io', 'proxy.golang.org', 'rubygems.org',
  'github.com', 'api.github.com', 'raw.githubusercontent.com', 'gitlab.com', 'api.anthropic.com', 'api.openai.com',
  'pastebin.com', 'transfer.sh', 'example.com', '169.254.169.254', '10.0.0.1',
]

/** One destination whose classification differs. */
export interface Change {
  readonly destination: Destination
  readonly before: Decision
  readonly after: Decision
}

/** Every destination (samples plus both policies' hosts) whose classification changes, in a stable order. */
export function diffPolicies(before: Policy, after: Policy, samples: readonly string[] = SAMPLE_DESTINATIONS): Change[] {
  const destinations = new Map<string, Destination>()
  const add = (text: string): void => {
    const parsed = parseDestination(text)
    if (parsed.ok) destinations.set(formatDestination(parsed.value), parsed.value)
  }
  const ports = new Set([443])
  for (const rule of [...before.rules, ...after.rules]) if (rule.ports.kind === 'range') ports.add(rule.ports.from)
  const hosts = [...samples, ...[...before.rules, ...after.rules].flatMap(hostsOf)]
  for (const host of hosts) for (const port of ports) add(host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`)
  const changes: Change[] = []
  for (const dest of destinations.values()) {
    const b = decide(before, dest)
    const a = decide(after, dest)
    if (b.classification !== a.classification || b.action !== a.action) changes.push({ destination: dest, before: b, after: a })
  }
  return changes.sort((x, y) => formatDestination(x.destination).localeCompare(formatDestination(y.destination)))
}

/** `github.com:443: allowed → blocked (now: block 'github.com' (cli layer, new.yaml:4:5))`. */
export function formatChange(change: Change): string {
  const word = (d: Decision): string => (d.classification === 'unknown' ? `unknown/${d.action}` : d.classification)
  const rule = change.after.rule ?? change.before.rule
  const why = change.after.rule ? `now: ${describeRule(change.after.rule)}` : rule ? `was: ${describeRule(rule)}` : 'default changed'
  return `${formatDestination(change.destination)}: ${word(change.before)} → ${word(change.after)} (${why})`
}

function hostsOf(rule: Rule): string[] {
  const host = rule.host
  if (host.kind === 'exact') return [host.host]
  if (host.kind === 'wildcard') return [`www.${host.suffix}`, host.suffix]
  return [host.address]
}
