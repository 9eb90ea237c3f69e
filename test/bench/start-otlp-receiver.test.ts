import t from 'tap'
import { startOtlpReceiver } from '../../bench/start-otlp-receiver.js'

t.test('takes OTLP/HTTP trace exports with a full success and counts them; nothing else', async t => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.stop())
  const res = await fetch(`${receiver.url}/v1/traces`, { method: 'POST', body: '{"resourceSpans":[]}', headers: { 'content-type': 'application/json' } })
  t.equal(res.status, 200)
  t.same(await res.json(), {}, 'an empty response is a full success in OTLP')
  const proto = await fetch(`${receiver.url}/v1/traces`, { method: 'POST', body: new Uint8Array([0x0a, 0x00]), headers: { 'content-type': 'application/x-protobuf' } })
  t.equal(proto.headers.get('content-type'), 'application/x-protobuf')
  t.equal((await proto.arrayBuffer()).byteLength, 0, 'and in protobuf, no bytes')
  t.equal((await fetch(`${receiver.url}/v1/metrics`, { method: 'POST', body: 'x' })).status, 404)
  t.same(receiver.received(), { posts: 2, bytes: 22 })
})
