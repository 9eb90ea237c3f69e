import t, { type Test } from 'tap'
import { ProxyAgent, request } from 'undici'
import { startHttpOrigin } from '../helpers/origins.js'
import { startStack } from '../helpers/start-stack.js'

// origin.test and inner.test are pinned; the origin is on loopback, which allow_private admits, while
// inner.test resolves to 10.0.0.5, which it does not: that refusal is address safety, not the policy.
const AUDIT_POLICY = `version: 1
mode: audit
default: ask
allow:
  - "allowed.test:*"
block:
  - "blocked.test"
allow_private:
  - 127.0.0.0/8
`

async function stack(t: Test, policy: string) {
  const origin = await startHttpOrigin(t)
  const s = await startStack(t, { policy, resolve: { 'allowed.test': '127.0.0.1', 'blocked.test': '127.0.0.1', 'unknown.test': '127.0.0.1', 'inner.test': '10.0.0.5' } })
  const agent = new ProxyAgent({ uri: s.url, proxyTunnel: false })
  t.teardown(() => agent.destroy())
  const get = async (host: string) => {
    const res = await request(`http://${host}:${origin.port}/`, { dispatcher: agent })
    await res.body.text()
    return res.statusCode
  }
  return { ...s, origin, get }
}

t.test('audit mode: a blocked host passes, and the event says enforce would have denied it', async (t) => {
  const { get, records, origin } = await stack(t, AUDIT_POLICY)
  t.equal(await get('blocked.test'), 200, 'nothing the policy would refuse is refused')
  t.equal(origin.seen.length, 1, 'the request reached the origin')
  t.match(records.last(), { 'guarded.classification': 'blocked', 'guarded.verdict': 'allow', 'guarded.reason': 'blocked', 'guarded.rule': 'blocked.test', 'guarded.would_verdict': 'deny' })
})

t.test('audit mode: an unknown host passes without seeking an approval; would_verdict says ask', async (t) => {
  const { get, records } = await stack(t, AUDIT_POLICY)
  t.equal(await get('unknown.test'), 200)
  t.match(records.last(), { 'guarded.classification': 'unknown', 'guarded.verdict': 'allow', 'guarded.would_verdict': 'ask' })
  t.equal(await get('allowed.test'), 200)
  t.match(records.last(), { 'guarded.classification': 'allowed', 'guarded.would_verdict': 'allow' }, 'every event in audit mode says what enforce would do')
})

t.test('audit mode: a private address is still refused (address safety is not policy)', async (t) => {
  const { get, records, origin } = await stack(t, AUDIT_POLICY)
  t.equal(await get('inner.test'), 403)
  t.equal(origin.seen.length, 0)
  t.match(records.last(), { 'guarded.verdict': 'deny', 'guarded.reason': 'private-address', 'guarded.would_verdict': 'ask' })
})

t.test('enforce (the default) refuses the same blocked host and records no would_verdict', async (t) => {
  const { get, records } = await stack(t, AUDIT_POLICY.replace('mode: audit\n', ''))
  t.equal(await get('blocked.test'), 403)
  t.equal(records.last()?.['guarded.would_verdict'], undefined)
})
