// Turns what the user asked for (workspace, profile, flags) and what the disk
// holds into a frozen list of mounts. Pure given the probe: no spawning here.
import { isAbsolute, join, normalize, sep } from 'node:path'
import picomatch from 'picomatch'
import { hostProbe, type HostProbe, type PathKind } from './host-probe.js'
import type { Profile } from './profiles.js'
import {
  DEFAULT_DENY_READ_GLOBS, DEFAULT_HOME_SECRETS, DEFAULT_PROTECTED, DEFAULT_PROXY_PORT, SCAN_SKIP_DIRS, type PathEntry,
} from './sandbox-defaults.js'

/** What the caller knows before planning. */
export interface SandboxOptions {
  /** Absolute path of the agent's writable working tree (default: the current directory). */
  readonly workspace: string
  /** The user's HOME on the host; secrets and profile paths are relative to it. */
  readonly home: string
  /** Extra workspace-relative paths kept read-only (`--protect`); a trailing `/` marks a directory. */
  readonly protect?: readonly string[]
  /** Protected paths an administrator pinned (managed settings); same syntax as `protect`. */
  readonly pinnedProtect?: readonly string[]
  /** Extra writable paths (`--allow-write`); `~/` is HOME, relative is the workspace. */
  readonly allowWrite?: readonly string[]
  /** Extra unreadable paths or picomatch globs over the workspace (`--deny-read`). */
  readonly denyRead?: readonly string[]
  /** Absolute host files the agent must never read: the proxy's admin token, its CA key. */
  readonly secretFiles?: readonly string[]
  /** The agent profile, if one matched. */
  readonly profile?: Profile | null
  /** The forwarder's port inside the sandbox. */
  readonly proxyPort?: number
  /** True when stdin is a terminal: keep the session so job control and SIGWINCH work. */
  readonly interactive?: boolean
  /** `--no-sandbox`: run unconfined. The lead's managed requirements may forbid it. */
  readonly noSandbox?: boolean
  /** Stop scanning the workspace for deny-read globs after this many entries. */
  readonly scanLimit?: number
}

/** Why a mount is in the plan; tests and `--explain` read it. */
export type MountReason = 'workspace' | 'writable' | 'ancestor' | 'protected' | 'secret'

/** One step of the sandbox's filesystem view, applied in order on top of a read-only `/`. */
export type Mount =
  /** Bind the host path onto itself, writable. */
  | { readonly op: 'bind'; readonly path: string; readonly why: MountReason }
  /** Bind the host path onto itself, read-only. */
  | { readonly op: 'ro-bind'; readonly path: string; readonly why: MountReason }
  /** An empty read-only directory over `path`; mode 0000 makes it unlistable. */
  | { readonly op: 'cover-dir'; readonly path: string; readonly mode: '0000' | '0555'; readonly why: MountReason }
  /** /dev/null on a nodev mount over `path`: every open fails with EACCES. */
  | { readonly op: 'cover-file'; readonly path: string; readonly why: MountReason }

/** Everything the launcher needs to build the sandbox, frozen. */
export interface SandboxPlan {
  /** False only after an explicit `--no-sandbox`. */
  readonly sandboxed: boolean
  readonly workspace: string
  readonly home: string
  readonly mounts: readonly Mount[]
  /** Profile directories to create on the host before the run, so they can be bound writable. */
  readonly createDirs: readonly string[]
  /** Mount points bwrap creates in the workspace; removed after the run if still empty. Deepest first. */
  readonly stubs: readonly string[]
  readonly proxyPort: number
  readonly newSession: boolean
  /** Things the user should know (a skipped path, a truncated scan). */
  readonly warnings: readonly string[]
}

/** Plan the sandbox for `opts`, asking `probe` what exists on disk. */
export function planSandbox(opts: SandboxOptions, probe: HostProbe = hostProbe): SandboxPlan {
  assertAbsolute('workspace', opts.workspace)
  assertAbsolute('home', opts.home)
  const ctx: PlanContext = { opts, probe, warnings: [], workspace: probe.realpath(normalize(opts.workspace)) }
  const writable = writableMounts(ctx)
  const { ancestors, covers, stubs } = protectedMounts(ctx)
  const secrets = secretMounts(ctx)
  return deepFreeze({
    sandboxed: opts.noSandbox !== true,
    workspace: ctx.workspace,
    home: opts.home,
    mounts: dropShadowed([...writable.mounts, ...ancestors, ...covers, ...secrets]),
    createDirs: writable.createDirs,
    stubs,
    proxyPort: opts.proxyPort ?? DEFAULT_PROXY_PORT,
    newSession: opts.interactive !== true,
    warnings: ctx.warnings,
  })
}

/** A user-written protected entry as a PathEntry: a trailing `/` means a directory. */
export function parsePathEntry(text: string): PathEntry {
  const dir = text.endsWith('/')
  const path = normalize(dir ? text.slice(0, -1) : text)
  if (isAbsolute(path) || path === '..' || path.startsWith(`..${sep}`) || path === '.') {
    throw new Error(`GUARDED_BAD_PROTECT: '${text}' must be a path inside the workspace, like '.vscode/' or 'Makefile'`)
  }
  return { path, kind: dir ? 'dir' : 'file', coverMissing: true }
}

interface PlanContext {
  readonly opts: SandboxOptions
  readonly probe: HostProbe
  readonly warnings: string[]
  readonly workspace: string
}

function writableMounts(ctx: PlanContext): { mounts: Mount[]; createDirs: string[] } {
  const mounts: Mount[] = [{ op: 'bind', path: ctx.workspace, why: 'workspace' }]
  const createDirs: string[] = []
  const profilePaths = ctx.opts.profile?.writable ?? []
  for (const raw of [...profilePaths, ...(ctx.opts.allowWrite ?? [])]) {
    const wantsDir = raw.endsWith('/')
    const path = ctx.probe.realpath(resolveUserPath(raw, ctx))
    const kind = ctx.probe.kind(path)
    if (kind === 'missing' && wantsDir && profilePaths.includes(raw)) createDirs.push(path)
    else if (kind === 'missing') {
      ctx.warnings.push(`writable path ${raw} does not exist; skipped (create it first to let the agent write there)`)
      continue
    }
    if (!mounts.some((m) => m.path === path)) mounts.push({ op: 'bind', path, why: 'writable' })
  }
  return { mounts: byDepth(mounts), createDirs }
}

function protectedMounts(ctx: PlanContext): { ancestors: Mount[]; covers: Mount[]; stubs: string[] } {
  const entries = [
    ...DEFAULT_PROTECTED,
    ...(ctx.opts.pinnedProtect ?? []).map(parsePathEntry),
    ...(ctx.opts.protect ?? []).map(parsePathEntry),
  ]
  const covers = new Map<string, Mount>()
  const ancestors = new Set<string>()
  const stubs: string[] = []
  for (const entry of entries) {
    const target = coverTarget(ctx, entry)
    if (target === undefined || covers.has(target.path)) continue
    covers.set(target.path, target.mount)
    if (target.stub) stubs.push(target.path)
    for (const a of ancestorsWithin(ctx.workspace, target.path)) ancestors.add(a)
  }
  return {
    // Binding each ancestor onto itself makes it a mount point, so renaming it
    // away (`mv .git elsewhere`) fails with EBUSY instead of escaping the binds.
    ancestors: byDepth([...ancestors].map((path): Mount => ({ op: 'bind', path, why: 'ancestor' }))),
    covers: byDepth([...covers.values()]),
    stubs: stubs.sort((a, b) => depth(b) - depth(a)),
  }
}

/** Which path to cover for a protected entry, walking down until something is missing. */
function coverTarget(ctx: PlanContext, entry: PathEntry): { path: string; mount: Mount; stub: boolean } | undefined {
  const parts = entry.path.split(sep)
  let path = ctx.workspace
  for (const [i, part] of parts.entries()) {
    path = join(path, part)
    const kind = ctx.probe.kind(path)
    const last = i === parts.length - 1
    if (kind === 'missing' && !entry.coverMissing) return undefined
    if (kind === 'missing') return { path, mount: emptyCover(path, last ? entry.kind : 'dir'), stub: true }
    // A file where a directory is expected (a worktree's `.git` file): protect
    // the file, or the agent could replace it with a directory of hooks.
    if (kind === 'file' || last) return { path, mount: { op: 'ro-bind', path, why: 'protected' }, stub: false }
  }
  return undefined
}

function emptyCover(path: string, kind: 'file' | 'dir'): Mount {
  return kind === 'dir'
    ? { op: 'cover-dir', path, mode: '0555', why: 'protected' }
    : { op: 'cover-file', path, why: 'protected' }
}

function secretMounts(ctx: PlanContext): Mount[] {
  const literal = [
    ...DEFAULT_HOME_SECRETS.map((p) => join(ctx.opts.home, p)),
    ...(ctx.opts.secretFiles ?? []),
    ...(ctx.opts.denyRead ?? []).filter((p) => !picomatch.scan(p).isGlob).map((p) => resolveUserPath(p, ctx)),
  ]
  const found = [...literal, ...globMatches(ctx)]
  const mounts = new Map<string, Mount>()
  for (const candidate of found) {
    // Cover the file a symlink points at: opening the link follows it into the cover.
    const path = ctx.probe.realpath(candidate)
    const kind = ctx.probe.kind(path)
    if (kind !== 'missing' && !mounts.has(path)) mounts.set(path, hideMount(path, kind))
  }
  return byDepth([...mounts.values()])
}

function globMatches(ctx: PlanContext): string[] {
  const globs = [...DEFAULT_DENY_READ_GLOBS, ...(ctx.opts.denyRead ?? []).filter((p) => picomatch.scan(p).isGlob)]
  const isMatch = picomatch(globs, { dot: true })
  const { paths, truncated } = ctx.probe.scan(ctx.workspace, SCAN_SKIP_DIRS, ctx.opts.scanLimit ?? 200_000)
  if (truncated) ctx.warnings.push(`workspace scan stopped after ${paths.length} entries; deny-read globs may have missed files`)
  return paths.filter((rel) => isMatch(rel)).map((rel) => join(ctx.workspace, rel))
}

function hideMount(path: string, kind: Exclude<PathKind, 'missing'>): Mount {
  return kind === 'dir'
    ? { op: 'cover-dir', path, mode: '0000', why: 'secret' }
    : { op: 'cover-file', path, why: 'secret' }
}

/**
 * Drop mounts under an empty cover: the path is unreachable already, and bwrap
 * could not create the mount point inside the read-only cover anyway (a
 * committed `.env -> ~/.ssh/id_ed25519` would otherwise stop the run).
 */
function dropShadowed(mounts: readonly Mount[]): Mount[] {
  const covered = mounts.filter((m) => m.op === 'cover-dir').map((m) => `${m.path}${sep}`)
  return mounts.filter((m) => !covered.some((dir) => m.path.startsWith(dir)))
}

/** `~/x` is under HOME, relative paths are under the workspace. */
function resolveUserPath(raw: string, ctx: PlanContext): string {
  const text = raw.endsWith('/') && raw.length > 1 ? raw.slice(0, -1) : raw
  if (text === '~') return ctx.opts.home
  if (text.startsWith('~/')) return join(ctx.opts.home, text.slice(2))
  return isAbsolute(text) ? normalize(text) : join(ctx.workspace, text)
}

/** Strict ancestors of `path` below `root` (not `root` itself: it is already a mount point). */
function ancestorsWithin(root: string, path: string): string[] {
  const rel = path.slice(root.length + 1).split(sep)
  return rel.slice(0, -1).map((_, i) => join(root, ...rel.slice(0, i + 1)))
}

function byDepth<T extends { path: string }>(items: T[]): T[] {
  return [...items].sort((a, b) => depth(a.path) - depth(b.path) || a.path.localeCompare(b.path))
}

function depth(path: string): number {
  return path.split(sep).length
}

function assertAbsolute(name: string, path: string): void {
  if (!isAbsolute(path)) throw new Error(`GUARDED_BAD_PATH: ${name} must be an absolute path, got '${path}'`)
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
