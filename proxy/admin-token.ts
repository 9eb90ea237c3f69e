/** The admin API's bearer token: read from `--admin-token-file`, or generated and written 0600 where a sandbox cannot read it. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { pidAlive } from './approvals/discovery.js'
import { ConfigError } from './errors.js'

/** The token in force and the file it lives in (`generated` files are removed on shutdown). */
export interface AdminToken {
  readonly file: string
  readonly generated: boolean
  /** Constant-time check of an `Authorization: Bearer …` header value. */
  check(header: string | undefined): boolean
  remove(): Promise<void>
}

/** The per-user runtime directory for generated tokens and discovery files, outside any workspace. */
export function runtimeDir(env: NodeJS.ProcessEnv): string {
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'guarded') : join(env.HOME ?? homedir(), '.local', 'state', 'guarded')
}

/** Loads the token file, or generates one named after this process. */
export async function loadAdminToken(file: string | undefined, env: NodeJS.ProcessEnv, pid: number): Promise<AdminToken> {
  if (file) {
    const text = (await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError(`cannot read --admin-token-file ${file}: ${err.code ?? err.message}`)
    })).trim()
    if (text.length < 16) throw new ConfigError(`--admin-token-file ${file} holds a token shorter than 16 characters; generate one with: head -c 32 /dev/urandom | base64`)
    return token(text, file, false)
  }
  const dir = runtimeDir(env)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await removeStaleTokens(dir, pid)
  const path = join(dir, `admin-token-${pid}`)
  const text = randomBytes(32).toString('base64url')
  await writeFile(path, text + '\n', { mode: 0o600 })
  return token(text, path, true)
}

const TOKEN_FILE = /^admin-token-(\d+)$/

/**
 * A proxy that was killed, or whose machine went down, never removed its token: a secret nobody can
 * use any more, and under ~/.local/state (which outlives a reboot) they piled up, one per crash. The
 * files of processes still running are left alone, as readers of discovery files do (discovery.ts).
 */
async function removeStaleTokens(dir: string, self: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const pid = Number(TOKEN_FILE.exec(name)?.[1] ?? 0)
    // Tidying up must never stop a proxy from starting: a file we may not remove stays.
    if (pid > 0 && pid !== self && !pidAlive(pid)) await rm(join(dir, name), { force: true }).catch(() => {})
  }
}

function token(text: string, file: string, generated: boolean): AdminToken {
  const expected = createHash('sha256').update(text).digest()
  return {
    file,
    generated,
    check(header) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
      if (!match?.[1]) return false
      return timingSafeEqual(expected, createHash('sha256').update(match[1]).digest())
    },
    remove: async () => {
      if (generated) await rm(file, { force: true })
    },
  }
}
