import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { compileLoadgen } from '../../bench/compile-loadgen.js'
import { runLoadgen } from '../../bench/run-loadgen.js'
import { startOrigin } from '../../bench/start-origin.js'

t.test('the C load generator drives the C origin directly in every timed mode', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'guarded-loadgen-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const tools = await compileLoadgen(dir)
  const origin = await startOrigin(tools)
  t.teardown(() => origin.stop())
  const base = { proxyPort: 0, name: 'origin.bench.test', seconds: 0.3, warmup: 0.1, conns: 4 }
  const tunnel = await runLoadgen(tools, { ...base, mode: 'tunnel', originPort: origin.tcpPort })
  t.ok((tunnel.mb_per_s ?? 0) > 0, 'bytes flow from the origin')
  const connect = await runLoadgen(tools, { ...base, mode: 'connect', originPort: origin.tcpPort })
  t.ok((connect.per_s ?? 0) > 0 && (connect.p99_us ?? 0) >= (connect.p50_us ?? 0), 'pings echo and close')
  const http = await runLoadgen(tools, { ...base, mode: 'http', originPort: origin.httpPort })
  t.ok((http.per_s ?? 0) > 0, 'keep-alive requests are answered')
  t.same([tunnel.errors, connect.errors, http.errors], [0, 0, 0], 'and nothing failed')
})
