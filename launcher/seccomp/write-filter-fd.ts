// How the launcher hands the BPF program to bwrap: bwrap(1) reads the whole
// program from an inherited fd named by `--seccomp FD`. We write it to a temp
// file, open that read-only, and unlink file and directory at once; the open
// fd keeps the inode alive, so nothing is left on disk even if we crash.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** The fd number the child sees the program on: stdio[3] in Node's `spawn`. */
export const SECCOMP_CHILD_FD = 3

/**
 * An open, already-unlinked file holding a seccomp program, ready to give to
 * one bwrap: the fd's file offset is shared with the child and bwrap reads to
 * EOF, so a second spawn from the same FilterFd would read nothing.
 */
export interface FilterFd {
  /** Our fd; pass it as `stdio[3]` so the child inherits it as fd 3. */
  readonly fd: number
  /** The bwrap arguments naming the fd as the child sees it. */
  readonly bwrapArgs: readonly string[]
  /** Close our copy; call after spawn (the child holds its own). Safe to call twice. */
  close(): void
}

/** Write `program` to a private temp file and return it open, unlinked, for one bwrap child. */
export function writeFilterFd(program: Buffer, dir: string = tmpdir()): FilterFd {
  const tmp = mkdtempSync(join(dir, 'guarded-seccomp-'))
  try {
    const path = join(tmp, 'filter.bpf')
    writeFileSync(path, program, { mode: 0o600, flag: 'wx' })
    return filterFd(openSync(path, 'r'))
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** stdio for `spawn` that adds the filter as fd 3 after the given stdin/stdout/stderr. */
export function stdioWithFilter<T>(filter: FilterFd, base: readonly [T, T, T]): [T, T, T, number] {
  return [base[0], base[1], base[2], filter.fd]
}

function filterFd(fd: number): FilterFd {
  let open = true
  return Object.freeze({
    fd,
    bwrapArgs: Object.freeze(['--seccomp', String(SECCOMP_CHILD_FD)]),
    close() {
      if (open) closeSync(fd)
      open = false
    },
  })
}
