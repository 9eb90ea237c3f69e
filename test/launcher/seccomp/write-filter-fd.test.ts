import { fstatSync, readdirSync, readSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { SECCOMP_CHILD_FD, stdioWithFilter, writeFilterFd } from '../../../launcher/seccomp/write-filter-fd.js'

t.test('hands back an open fd holding exactly the program, with nothing left on disk', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'guarded-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const program = Buffer.from('0600000000007fff', 'hex')
  const filter = writeFilterFd(program, dir)
  t.teardown(() => filter.close())
  t.same(readdirSync(dir), [], 'temp file and its directory are unlinked already')
  const stat = fstatSync(filter.fd)
  t.equal(stat.nlink, 0, 'the fd refers to an unlinked inode')
  t.equal(stat.mode & 0o777, 0o600, 'only the owner could ever read it')
  const back = Buffer.alloc(16)
  t.equal(readSync(filter.fd, back, 0, 16, 0), 8)
  t.same(back.subarray(0, 8), program)
})

t.test('names fd 3 for bwrap and puts the fd at stdio[3]', async (t) => {
  const filter = writeFilterFd(Buffer.alloc(8))
  t.teardown(() => filter.close())
  t.equal(SECCOMP_CHILD_FD, 3)
  t.same(filter.bwrapArgs, ['--seccomp', '3'])
  t.same(stdioWithFilter(filter, ['ignore', 'pipe', 'inherit']), ['ignore', 'pipe', 'inherit', filter.fd])
})

t.test('close is idempotent and really closes', async (t) => {
  const filter = writeFilterFd(Buffer.alloc(8))
  filter.close()
  t.doesNotThrow(() => filter.close())
  t.throws(() => fstatSync(filter.fd), { code: 'EBADF' })
})
