/** The admin API's generated bearer token: where it is written, who may read it, and what a new proxy clears away. */
import { spawnSync } from 'node:child_process'
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { loadAdminToken } from '../../proxy/admin-token.js'
import { tempDir } from '../helpers/temp-dir.js'

/** The PID of a process that has already exited (and been reaped). */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!
}

t.test('a generated token is written 0600 under XDG_RUNTIME_DIR/guarded and checked as a bearer token', async (t) => {
  const runtime = await tempDir(t, 'guarded-token-')
  const token = await loadAdminToken(undefined, { XDG_RUNTIME_DIR: runtime }, 4242)
  t.equal(token.file, join(runtime, 'guarded', 'admin-token-4242'))
  t.equal((await stat(token.file)).mode & 0o777, 0o600)
  const text = (await readFile(token.file, 'utf8')).trim()
  t.ok(token.check(`Bearer ${text}`))
  t.notOk(token.check(`Bearer ${text}x`), 'a different token is refused')
  t.notOk(token.check(undefined), 'no header is refused')
  await token.remove()
  t.same(await readdir(join(runtime, 'guarded')), [], 'removed on shutdown')
})

t.test('tokens left by proxies that died are removed; a running process keeps its own, and other files stay', async (t) => {
  const runtime = await tempDir(t, 'guarded-token-')
  const dir = join(runtime, 'guarded')
  await mkdir(dir)
  const dead = deadPid()
  for (const name of [`admin-token-${dead}`, `admin-token-${process.pid}`, 'admin-token-notes', 'proxies']) await writeFile(join(dir, name), 'x\n')
  const token = await loadAdminToken(undefined, { XDG_RUNTIME_DIR: runtime }, 4242)
  t.same((await readdir(dir)).sort(), [`admin-token-${process.pid}`, 'admin-token-4242', 'admin-token-notes', 'proxies'].sort())
  t.equal(token.file, join(dir, 'admin-token-4242'))
})

t.test('a stale entry that cannot be removed is left, and the proxy still gets its token', async (t) => {
  const runtime = await tempDir(t, 'guarded-token-')
  const dir = join(runtime, 'guarded')
  const stuck = join(dir, `admin-token-${deadPid()}`)
  await mkdir(join(stuck, 'inside'), { recursive: true }) // a directory: rm without `recursive` refuses it
  const token = await loadAdminToken(undefined, { XDG_RUNTIME_DIR: runtime }, 4242)
  t.equal(token.file, join(dir, 'admin-token-4242'))
  t.ok((await stat(stuck)).isDirectory(), 'what could not be removed is still there')
})
