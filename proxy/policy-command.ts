/**
 * `guarded-proxy policy lint|explain|test|diff|trust`: policy tools for security teams. Every
 * subcommand takes `--policy FILE` (repeatable, lowest precedence first) and `--requirements FILE`;
 * without `--policy` it loads the layers the proxy would (system, user, trusted project).
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { canonicalPath } from '../policy/canonical-path.js'
import { checkExpectations, readExpectations } from '../policy/check-expectations.js'
import { diffPolicies, formatChange } from '../policy/diff-policies.js'
import { explainDecision } from '../policy/explain-decision.js'
import { lintPolicy } from '../policy/lint-policy.js'
import { loadPolicy } from '../policy/load.js'
import { parseDestination } from '../policy/parse-destination.js'
import { PolicyError, type PolicyProblem } from '../policy/policy-error.js'
import type { Policy } from '../policy/types.js'
import { defaultRoots, projectPolicyFile } from './policy-files/policy-roots.js'
import { readLayers } from './policy-files/read-layers.js'
import { trustProject } from './policy-files/trust-store.js'

export const POLICY_USAGE = `usage: guarded-proxy policy <command> [--policy FILE]... [--requirements FILE]

commands:
  lint [FILES]                          errors (exit 1) and warnings: shadowed, duplicate, unreachable, too broad
  explain HOST[:PORT] [--method M --path P]  the classification, the rule, its layer and file:line, any clamp
  test FILE                             check an expectations file (destination: classification); exit 1 on a mismatch
  diff OLD NEW                          destinations whose classification changes; exit 1 when any does
  trust DIR                             trust DIR/.guarded/policy.yaml as it is now (its SHA-256 is recorded)

Without --policy the layers are /etc/guarded/policy.yaml, ~/.config/guarded/policy.yaml and a trusted
.guarded/policy.yaml; /etc/guarded/requirements.yaml bounds them when it exists.
`

const FLAGS = {
  policy: { type: 'string', multiple: true },
  requirements: { type: 'string' },
  method: { type: 'string' },
  path: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

interface Flags {
  readonly policy: readonly string[]
  readonly requirements?: string
  readonly method?: string
  readonly path?: string
}

type Subcommand = (args: readonly string[], flags: Flags, out: Output) => Promise<number>

/** Where a subcommand writes: stdout for results, stderr for notices and usage mistakes. */
interface Output {
  out(line: string): void
  err(line: string): void
}

const SUBCOMMANDS: Record<string, Subcommand> = { lint, explain, test: testCommand, diff, trust }

/** Runs one `policy` subcommand; resolves with its exit status (2 for a usage mistake). */
export async function policyCommand(args: readonly string[]): Promise<number> {
  const io: Output = { out: (l) => void process.stdout.write(`${l}\n`), err: (l) => void process.stderr.write(`${l}\n`) }
  const [name, ...rest] = args
  const run = name === undefined ? undefined : SUBCOMMANDS[name]
  if (!run) return usage(io, name === undefined || name === '--help' || name === '-h' ? undefined : `unknown policy command ${JSON.stringify(name)}`)
  let parsed: { values: { policy?: string[]; requirements?: string; method?: string; path?: string; help?: boolean }; positionals: string[] }
  try {
    parsed = parseArgs({ args: [...rest], options: FLAGS, strict: true, allowPositionals: true })
  } catch (err) {
    return usage(io, (err as Error).message)
  }
  if (parsed.values.help) return usage(io, undefined, 0)
  const { policy = [], requirements, method, path } = parsed.values
  try {
    return await run(parsed.positionals, { policy, ...(requirements !== undefined && { requirements }), ...(method !== undefined && { method }), ...(path !== undefined && { path }) }, io)
  } catch (err) {
    if (err instanceof PolicyError) return printProblems(io, err.problems)
    io.err(`guarded-proxy policy ${name}: ${(err as Error).message}`)
    return 1
  }
}

function usage(io: Output, problem: string | undefined, code = 2): number {
  if (problem) io.err(`guarded-proxy policy: ${problem}`)
  ;(code === 0 ? io.out : io.err)(POLICY_USAGE.trimEnd())
  return code
}

/** Loads `files` (or the discovered layers when there are none), bounded by the requirements. */
async function load(files: readonly string[], flags: Flags, io: Output): Promise<Policy> {
  const layers = await readLayers({ explicit: files, ...(flags.requirements !== undefined && { requirementsFile: flags.requirements }) }, defaultRoots())
  for (const notice of layers.notices) io.err(`note: ${notice}`)
  if (layers.sources.length === 0) throw new Error('no policy: pass --policy FILE, or create /etc/guarded/policy.yaml, ~/.config/guarded/policy.yaml or a trusted .guarded/policy.yaml')
  return loadPolicy(layers.sources)
}

function printProblems(io: Output, problems: readonly PolicyProblem[]): number {
  for (const p of problems) io.out(`${p.file}:${p.line}:${p.col}: error: ${p.message} (fix: ${p.fix})`)
  io.out(`${problems.length} error${problems.length === 1 ? '' : 's'}`)
  return 1
}

async function lint(args: readonly string[], flags: Flags, io: Output): Promise<number> {
  const policy = await load([...flags.policy, ...args], flags, io)
  const warnings = lintPolicy(policy)
  for (const w of warnings) io.out(`${w.at.file}:${w.at.line}:${w.at.col}: warning: ${w.message}`)
  io.out(`0 errors, ${warnings.length} warning${warnings.length === 1 ? '' : 's'} (${policy.rules.length} rules from ${policy.files.length} file${policy.files.length === 1 ? '' : 's'})`)
  return 0
}

async function explain(args: readonly string[], flags: Flags, io: Output): Promise<number> {
  const dest = args.length === 1 ? parseDestination(args[0] ?? '') : undefined
  if (!dest?.ok) return usage(io, dest ? dest.message : 'explain takes one HOST[:PORT]')
  if ((flags.method === undefined) !== (flags.path === undefined)) return usage(io, '--method and --path go together')
  const path = flags.path === undefined ? undefined : canonicalPath(flags.path)
  if (path && !path.ok) return usage(io, `--path ${flags.path}: ${path.problem}`)
  const policy = await load(flags.policy, flags, io)
  const request = path?.ok && flags.method ? { method: flags.method.toUpperCase(), path: path.path } : undefined
  for (const line of explainDecision(policy, dest.value, request)) io.out(line)
  return 0
}

async function testCommand(args: readonly string[], flags: Flags, io: Output): Promise<number> {
  const [file] = args
  if (args.length !== 1 || file === undefined) return usage(io, 'test takes one expectations FILE')
  const read = readExpectations(file, await readFile(file, 'utf8'))
  if (read.problems.length > 0) return printProblems(io, read.problems)
  const mismatches = checkExpectations(await load(flags.policy, flags, io), read.expectations)
  for (const line of mismatches) io.out(line)
  io.out(`${read.expectations.length} expectations, ${mismatches.length} mismatch${mismatches.length === 1 ? '' : 'es'}`)
  return mismatches.length === 0 ? 0 : 1
}

async function diff(args: readonly string[], flags: Flags, io: Output): Promise<number> {
  const [before, after] = args
  if (args.length !== 2 || before === undefined || after === undefined) return usage(io, 'diff takes OLD and NEW policy files')
  const changes = diffPolicies(await load([before], flags, io), await load([after], flags, io))
  for (const change of changes) io.out(formatChange(change))
  io.out(`${changes.length} destination${changes.length === 1 ? '' : 's'} change${changes.length === 1 ? 's' : ''} classification`)
  return changes.length === 0 ? 0 : 1
}

/** Loads the project file as the project layer first: a file that does not load is not trusted. */
async function trust(args: readonly string[], _flags: Flags, io: Output): Promise<number> {
  const [dir] = args
  if (args.length !== 1 || dir === undefined) return usage(io, 'trust takes one project DIR')
  const file = projectPolicyFile(resolve(dir))
  const policy = loadPolicy([{ file, text: await readFile(file, 'utf8'), layer: 'project' }])
  for (const clamp of policy.clamps ?? []) io.out(`${clamp.subject.file}:${clamp.subject.line}:${clamp.subject.col}: warning: ${clamp.message}`)
  const trusted = await trustProject(dirname(dirname(file)), defaultRoots(), new Date())
  const allows = policy.rules.filter((r) => r.action === 'allow').length
  io.out(`trusted ${trusted.file} (sha256 ${trusted.sha256}): ${allows} allow and ${policy.rules.length - allows} block rules; an edit makes it untrusted again`)
  return 0
}
