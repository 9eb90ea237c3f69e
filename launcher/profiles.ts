// Agent profiles are data: which config paths an agent writes, which provider
// key it needs, which API hosts it talks to. Built-ins ship in launcher/profiles/;
// users add or override them in ~/.config/guarded/profiles/NAME.yaml.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml'

/** One agent's needs, validated and frozen. */
export interface Profile {
  readonly name: string
  /** Command basenames that select this profile automatically. */
  readonly commands: readonly string[]
  /** `~/`-relative or absolute paths kept writable; a trailing `/` marks a directory (created if missing). */
  readonly writable: readonly string[]
  /** Environment variables kept although they look like secrets. */
  readonly keepEnv: readonly string[]
  /** The provider's API hosts, for the lead to add to the session's policy. */
  readonly allowHosts: readonly string[]
  /** The file it came from. */
  readonly source: string
}

/** Thrown for an invalid profile file; `message` lists every problem as `file:line:col: text`. */
export class ProfileError extends Error {
  readonly code = 'GUARDED_BAD_PROFILE'
  constructor(readonly problems: readonly string[]) {
    super(`GUARDED_BAD_PROFILE: invalid agent profile\n  ${problems.join('\n  ')}`)
  }
}

/** Where the built-in profiles live (source tree; tsc does not copy YAML, so dist reads them from here too). */
export const BUILTIN_PROFILE_DIR = builtinDir()

/** Where a user's own profiles live. */
export function userProfileDir(home: string): string {
  return join(home, '.config', 'guarded', 'profiles')
}

const KEYS = ['name', 'commands', 'writable', 'keep_env', 'allow_hosts'] as const
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/

/** Parse and validate one profile file's text. */
export function parseProfile(text: string, file: string): Profile {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false })
  const problems: string[] = []
  const at = (node: Node | null | undefined, msg: string): void => {
    const pos = lines.linePos(node?.range?.[0] ?? 0)
    problems.push(`${file}:${pos.line}:${pos.col}: ${msg}`)
  }
  for (const err of doc.errors) problems.push(`${file}:${err.linePos?.[0]?.line ?? 1}:${err.linePos?.[0]?.col ?? 1}: ${err.message.split('\n')[0]}`)
  if (problems.length > 0) throw new ProfileError(problems)
  if (!isMap(doc.contents)) throw new ProfileError([`${file}:1:1: a profile is a mapping with keys ${KEYS.join(', ')}`])
  const fields = new Map<string, Node | null>()
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : ''
    if ((KEYS as readonly string[]).includes(key)) fields.set(key, pair.value as Node | null)
    else at(pair.key as Node, `unknown key '${key}'; expected one of ${KEYS.join(', ')}`)
  }
  const name = scalarString(fields.get('name'), 'name', at)
  const list = (key: string, check: (s: string) => string | undefined): string[] =>
    stringList(fields.get(key), key, at, check)
  const profile: Profile = {
    name: name ?? '',
    commands: list('commands', (s) => (s.includes('/') ? 'a command is a basename, without /' : undefined)),
    writable: list('writable', (s) => (s.startsWith('~/') || s.startsWith('/') ? undefined : 'start with ~/ or /')),
    keepEnv: list('keep_env', (s) => (ENV_NAME.test(s) ? undefined : 'not an environment variable name')),
    allowHosts: list('allow_hosts', (s) => (HOST.test(s) ? undefined : 'not a lower-case host name')),
    source: file,
  }
  if (name === undefined) at(doc.contents, "missing 'name'")
  if (problems.length > 0) throw new ProfileError(problems)
  return Object.freeze({ ...profile, commands: Object.freeze(profile.commands), writable: Object.freeze(profile.writable),
    keepEnv: Object.freeze(profile.keepEnv), allowHosts: Object.freeze(profile.allowHosts) })
}

/** Load profile `name`: the user's file wins over the built-in one. Throws if neither exists. */
export function loadProfile(name: string, home: string, builtin: string = BUILTIN_PROFILE_DIR): Profile {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw new Error(`GUARDED_BAD_PROFILE: '${name}' is not a profile name`)
  for (const dir of [userProfileDir(home), builtin]) {
    const file = join(dir, `${name}.yaml`)
    if (existsSync(file)) return parseProfile(readFileSync(file, 'utf8'), file)
  }
  throw new Error(`GUARDED_UNKNOWN_PROFILE: no profile '${name}'; add ${join(userProfileDir(home), `${name}.yaml`)} or pick one of: ${profileNames(home, builtin).join(', ')}`)
}

/** The profile for this run: `--profile NAME` if given, else the one whose `commands` lists the command's basename. */
export function findProfile(command: readonly string[], home: string, explicit?: string, builtin: string = BUILTIN_PROFILE_DIR): Profile | null {
  if (explicit !== undefined) return loadProfile(explicit, home, builtin)
  const cmd = command[0] === undefined ? '' : basename(command[0])
  for (const name of profileNames(home, builtin)) {
    const profile = loadProfile(name, home, builtin)
    if (profile.commands.includes(cmd)) return profile
  }
  return null
}

/** Every profile name, user's and built-in, sorted. */
export function profileNames(home: string, builtin: string = BUILTIN_PROFILE_DIR): string[] {
  const names = new Set<string>()
  for (const dir of [userProfileDir(home), builtin]) {
    if (!existsSync(dir)) continue
    for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) names.add(f.slice(0, -5))
  }
  return [...names].sort()
}

type At = (node: Node | null | undefined, msg: string) => void

function scalarString(node: Node | null | undefined, key: string, at: At): string | undefined {
  if (node === undefined) return undefined
  if (isScalar(node) && typeof node.value === 'string' && node.value !== '') return node.value
  at(node, `'${key}' must be a non-empty string`)
  return undefined
}

function stringList(node: Node | null | undefined, key: string, at: At, check: (s: string) => string | undefined): string[] {
  if (node === undefined || node === null) return []
  if (!isSeq(node)) {
    at(node, `'${key}' must be a list of strings`)
    return []
  }
  const out: string[] = []
  for (const item of node.items as Node[]) {
    const value = isScalar(item) && typeof item.value === 'string' ? item.value : undefined
    const problem = value === undefined ? 'must be a string' : check(value)
    if (problem === undefined && value !== undefined) out.push(value)
    else at(item, `${key}: ${JSON.stringify(isScalar(item) ? item.value : null)} ${problem ?? ''}`.trim())
  }
  return out
}

function builtinDir(): string {
  // From launcher/profiles.ts (tests) or dist/launcher/profiles.js (built): the YAML stays in the source tree.
  const here = fileURLToPath(new URL('.', import.meta.url))
  const candidates = [join(here, 'profiles'), join(here, '..', '..', 'launcher', 'profiles')]
  return candidates.find((dir) => existsSync(join(dir, 'claude.yaml'))) ?? candidates[0] as string
}
