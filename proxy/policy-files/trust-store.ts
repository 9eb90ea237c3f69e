/**
 * The trust store: a project layer loads only after the user trusted its directory *and* the exact
 * contents (SHA-256) of its policy file. An edit, by the user or by an agent writing into the
 * repository, makes it untrusted again until a person looks and re-trusts it.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, realpath, rename, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { projectPolicyFile, trustStoreFile, type PolicyRoots } from './policy-roots.js'

/** How a project's policy stands: `none` when the directory has no `.guarded/policy.yaml`. */
export type TrustStatus = 'trusted' | 'untrusted' | 'changed' | 'none'

/** A project's trust, with what guarded-run and the proxy need to say about it. */
export interface ProjectTrust {
  readonly status: TrustStatus
  readonly dir: string
  readonly file: string
  /** SHA-256 of the file as it is now (absent when there is no file). */
  readonly sha256?: string
  /** SHA-256 the user trusted (for `changed`). */
  readonly trustedSha256?: string
  /** The text that was hashed, so a loader uses exactly the bytes that were checked. */
  readonly text?: string
}

interface StoreFile {
  version: 1
  projects: Record<string, { sha256: string; trusted_at: string }>
}

/** SHA-256 of a file's contents, hex. */
export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** Checks whether `dir`'s project policy is trusted as it is now. */
export async function projectTrust(dir: string, roots: PolicyRoots): Promise<ProjectTrust> {
  const real = await realpath(resolve(dir)).catch(() => resolve(dir))
  const file = projectPolicyFile(real)
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return { status: 'none', dir: real, file }
  const hash = sha256(text)
  const entry = (await readStore(roots)).projects[real]
  const status: TrustStatus = entry === undefined ? 'untrusted' : entry.sha256 === hash ? 'trusted' : 'changed'
  return { status, dir: real, file, sha256: hash, text, ...(entry && { trustedSha256: entry.sha256 }) }
}

/** Records `dir` and the current SHA-256 of its policy file as trusted; returns the trust as recorded. */
export async function trustProject(dir: string, roots: PolicyRoots, now: Date): Promise<ProjectTrust> {
  const found = await projectTrust(dir, roots)
  if (found.status === 'none' || found.sha256 === undefined) throw new Error(`${found.file} does not exist: there is nothing to trust`)
  const store = await readStore(roots)
  store.projects[found.dir] = { sha256: found.sha256, trusted_at: now.toISOString() }
  await writeStore(roots, store)
  return { ...found, status: 'trusted', trustedSha256: found.sha256 }
}

/** One clear sentence about a project policy that is present but not loaded; undefined otherwise. */
export function trustNotice(trust: ProjectTrust): string | undefined {
  const how = `review it, then run \`guarded-run trust\` (or \`guarded-proxy policy trust ${trust.dir}\`)`
  if (trust.status === 'untrusted') return `the project policy ${trust.file} is not trusted, so it is not loaded: ${how}`
  if (trust.status === 'changed') return `the project policy ${trust.file} changed since you trusted it (sha256 ${short(trust.trustedSha256)} → ${short(trust.sha256)}), so it is not loaded: ${how}`
  return undefined
}

function short(hash: string | undefined): string {
  return (hash ?? '').slice(0, 12)
}

async function readStore(roots: PolicyRoots): Promise<StoreFile> {
  const text = await readFile(trustStoreFile(roots), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (text === undefined) return { version: 1, projects: {} }
  // A store we cannot read as ours trusts nothing (fail closed), rather than throwing on every run.
  const parsed = parseJson(text)
  return parsed.version === 1 && typeof parsed.projects === 'object' && parsed.projects !== null ? (parsed as StoreFile) : { version: 1, projects: {} }
}

function parseJson(text: string): Partial<StoreFile> {
  try {
    return JSON.parse(text) as Partial<StoreFile>
  } catch {
    return {}
  }
}

/** Written to a temp file and renamed, 0600: a torn write must never trust the wrong contents. */
async function writeStore(roots: PolicyRoots, store: StoreFile): Promise<void> {
  const file = trustStoreFile(roots)
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const temp = `${file}.tmp-${process.pid}`
  await writeFile(temp, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 })
  await rename(temp, file)
}
