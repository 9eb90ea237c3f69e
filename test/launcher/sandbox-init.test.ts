import t from 'tap'
import { agentStatus, parseInitConfig } from '../../launcher/sandbox-init.js'

t.test("reading the inner bwrap's exit back into code or signal", async (t) => {
  const rows: [number | null, NodeJS.Signals | null, object, string][] = [
    [0, null, { code: 0, signal: null }, 'success'],
    [7, null, { code: 7, signal: null }, 'plain exit code'],
    [143, null, { code: null, signal: 'SIGTERM' }, 'bwrap reports SIGTERM as 128+15'],
    [130, null, { code: null, signal: 'SIGINT' }, 'SIGINT'],
    [255, null, { code: 255, signal: null }, 'no signal 127'],
    [null, 'SIGKILL', { code: null, signal: 'SIGKILL' }, 'bwrap itself killed'],
  ]
  for (const [code, signal, want, why] of rows) t.same(agentStatus(code, signal), want, why)
})

t.test('config must come from guarded-run', async (t) => {
  t.throws(() => parseInitConfig(undefined), /GUARDED_BAD_INIT_CONFIG/)
  t.throws(() => parseInitConfig('{"socket":1}'), /GUARDED_BAD_INIT_CONFIG/)
  t.match(parseInitConfig('{"socket":"/s","port":1,"bwrap":"bwrap","innerArgs":[],"seccompFd":null,"statusFd":null,"nodeOptions":null}'), { port: 1 })
})

// closeInheritedFds is proven in escape-battery.test.ts ('no file descriptor leaks in'):
// run here it would close the test runner's own inherited pipes.
