import t from 'tap'
import { caPaths, defaultCaDir } from '../../certs/index.js'

t.test('defaultCaDir follows XDG, then HOME, and never reads process.env itself', async (t) => {
  const rows: [Record<string, string | undefined>, string, string][] = [
    [{ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/a' }, '/x/cfg/guarded/ca', 'XDG_CONFIG_HOME wins'],
    [{ HOME: '/home/a' }, '/home/a/.config/guarded/ca', 'HOME/.config is the XDG default'],
    [{ XDG_CONFIG_HOME: '', HOME: '/home/a' }, '/home/a/.config/guarded/ca', 'an empty XDG_CONFIG_HOME counts as unset'],
    [{ XDG_CONFIG_HOME: 'rel/cfg', HOME: '/home/a' }, '/home/a/.config/guarded/ca', 'the XDG spec says to ignore a relative path'],
  ]
  for (const [env, dir, why] of rows) t.equal(defaultCaDir(env), dir, why)
  t.throws(() => defaultCaDir({}), { code: 'GUARDED_CA_NO_HOME', message: /--ca-dir/ }, 'no home: say how to pick a directory')
})

t.test('caPaths names ca.pem and ca-key.pem inside an absolute dir', async (t) => {
  t.same(caPaths('/etc/guarded/ca'), { dir: '/etc/guarded/ca', cert: '/etc/guarded/ca/ca.pem', key: '/etc/guarded/ca/ca-key.pem' })
  t.ok(caPaths('rel').dir.startsWith('/'), 'a relative --ca-dir is resolved')
})
