import t from 'tap'
import { agentStatus, parseGoMessage, parseInitConfig } from '../../launcher/sandbox-init.js'

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
  t.throws(() => parseInitConfig('{"socket":"/s","port":1,"bwrap":"bwrap","innerArgs":[],"seccompFd":null,"statusFd":null}'), /GUARDED_BAD_INIT_CONFIG/, 'no control fd: nothing could say go')
  t.match(parseInitConfig('{"socket":"/s","port":1,"bwrap":"bwrap","innerArgs":[],"seccompFd":null,"statusFd":null,"controlFd":5}'), { port: 1, controlFd: 5 })
})

t.test('only a well-formed go message starts the agent', async (t) => {
  const rows: [string, object | null, string][] = [
    ['{"env":{"PATH":"/usr/bin","NODE_OPTIONS":"--require /p.cjs"}}\n', { env: { PATH: '/usr/bin', NODE_OPTIONS: '--require /p.cjs' } }, 'the environment, NODE_OPTIONS included'],
    ['{"env":{}}', { env: {} }, 'an empty environment is still a go'],
    ['', null, 'end of file without a message: guarded-run called the run off'],
    ['{"env":{"PATH":"/usr/bin"', null, 'cut short: the launcher died mid-write'],
    ['{"env":{"N":1}}\n', null, 'a value that is not a string'],
    ['{"env":["PATH=/usr/bin"]}\n', null, 'not a mapping'],
    ['null\n', null, 'not an object'],
  ]
  for (const [text, want, why] of rows) t.same(parseGoMessage(text), want, why)
})

// closeInheritedFds is proven in escape-battery.test.ts ('no file descriptor leaks in'):
// run here it would close the test runner's own inherited pipes.
