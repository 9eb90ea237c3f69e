import t from 'tap'
import { buildInnerArgs, buildOuterArgs, mountArgs } from '../../launcher/bwrap-args.js'
import { planSandbox } from '../../launcher/sandbox-plan.js'
import { fakeProbe } from './helpers/fake-probe.js'

const plan = planSandbox({ workspace: '/w', home: '/h' }, fakeProbe(['/w/.git/hooks/', '/w/.git/config', '/h/.ssh/']))

/** The argument right after `flag`, every time it appears. */
const after = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []))

t.test('outer layer: namespaces, a read-only root, hidden /run, the socket directory, then the plan', async (t) => {
  const args = buildOuterArgs(plan, { proxyDir: '/host/run-1/proxy', init: ['node', 'init.js', '{}'] })
  for (const flag of ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent']) t.ok(args.includes(flag), flag)
  t.notOk(args.includes('--share-net'), 'never shares the network')
  t.same(args.slice(args.indexOf('--ro-bind'), args.indexOf('--ro-bind') + 3), ['--ro-bind', '/', '/'], 'the root is read-only')
  t.same(after(args, '--tmpfs').slice(0, 2), ['/tmp', '/run'], 'private /tmp; /run (docker.sock, D-Bus) hidden')
  t.ok(args.join(' ').includes('--ro-bind /host/run-1/proxy /run/guarded'), "the socket's directory is bound in, so bwrap need not wait for the proxy")
  t.ok(args.indexOf('/run/guarded') < args.indexOf('/w'), 'plan mounts come after the base view')
  t.same(after(args, '--unsetenv'), ['NODE_OPTIONS'], 'the init starts without the caller NODE_OPTIONS')
  t.same(args.slice(-4), ['--', 'node', 'init.js', '{}'])
})

t.test('inner layer: no capabilities, no more user namespaces, the filter, the agent', async (t) => {
  const args = buildInnerArgs(plan, { command: ['claude', '--x'], seccompFd: 3 })
  t.same(after(args, '--cap-drop'), ['ALL'])
  for (const flag of ['--unshare-user', '--disable-userns', '--assert-userns-disabled', '--die-with-parent', '--new-session']) t.ok(args.includes(flag), flag)
  t.same(after(args, '--seccomp'), ['3'])
  t.same(after(args, '--tmpfs'), ['/run'], 'the proxy socket is out of reach')
  t.same(args.slice(-3), ['--', 'claude', '--x'])
  const interactive = planSandbox({ workspace: '/w', home: '/h', interactive: true }, fakeProbe([]))
  t.notOk(buildInnerArgs(interactive, { command: ['x'], seccompFd: null }).includes('--new-session'), 'a terminal session is kept')
  t.notOk(buildInnerArgs(interactive, { command: ['x'], seccompFd: null }).includes('--seccomp'))
})

t.test('each mount kind as bwrap arguments', async (t) => {
  const rows: [Parameters<typeof mountArgs>[0], string[], string][] = [
    [{ op: 'bind', path: '/w', why: 'workspace' }, ['--bind', '/w', '/w'], 'writable onto itself'],
    [{ op: 'ro-bind', path: '/w/.git/hooks', why: 'protected' }, ['--ro-bind', '/w/.git/hooks', '/w/.git/hooks'], 'read-only onto itself'],
    [{ op: 'cover-dir', path: '/h/.ssh', mode: '0000', why: 'secret' }, ['--perms', '0000', '--tmpfs', '/h/.ssh', '--remount-ro', '/h/.ssh'], 'empty, unlistable, read-only'],
    [{ op: 'cover-file', path: '/w/.env', why: 'secret' }, ['--ro-bind', '/dev/null', '/w/.env'], '/dev/null on a nodev mount: EACCES'],
  ]
  for (const [mount, want, why] of rows) t.same(mountArgs(mount), want, why)
})
