import t from 'tap'
import { startOtlpReceiver } from '../../bench/start-otlp-receiver.js'

t.test('takes OTLP/HTTP trace exports with a full success and counts them; nothing else', async t => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.stop())
  const res = await fetch(`${receiver.url}/v1/traces`, { method: 'POST', body: '{"resourceSpans":[]}', headers: { 'content-type': 'application/json' } })
  t.equal(res.status, 200)
  t.same(await res.json(), {}, 'an empty response is a full success in OTLP')
  t.equal((await fetch(`${receiver.url}/v1/metrics`, { method: 'POST', body: 'x' })).status, 404)
  t.same(receiver.received(), { posts: 1, bytes: 20 })
})
