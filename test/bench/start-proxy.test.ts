import t from 'tap'
import { benchPolicyText } from '../../bench/start-proxy.js'
import { squidConfig } from '../../bench/start-squid.js'
import { decide } from '../../policy/decide.js'
import { loadPolicy } from '../../policy/load.js'
import type { Origin } from '../../bench/types.js'

const origin: Origin = { tcpPort: 40001, httpPort: 40002, stop: async () => {} }

t.test('the bench policy loads with the real loader and allows exactly the origin ports by name', async t => {
  const policy = loadPolicy([{ file: 'bench.yaml', text: benchPolicyText(origin) }])
  const ask = (port: number) => decide(policy, { host: 'origin.bench.test', port, kind: 'name' }).action
  t.equal(ask(40001), 'allow', 'CONNECT target')
  t.equal(ask(40002), 'allow', 'plain-HTTP target')
  t.equal(ask(40003), 'deny', 'any other port: the bench measures an allowlist, not an open proxy')
  t.equal(decide(policy, { host: 'other.bench.test', port: 40001, kind: 'name' }).action, 'deny')
  t.same(policy.allowPrivate.map(c => c.text), ['127.0.0.0/8'], 'loopback is allowed only because the policy says so')
})

t.test('Squid gets the same allowlist and nothing that could leave loopback', async t => {
  const conf = squidConfig(3999, origin, '/tmp/x')
  t.match(conf, /^http_port 127\.0\.0\.1:3999$/m)
  t.match(conf, /^acl bench_ports port 40001 40002$/m)
  t.match(conf, /^http_access allow bench_host bench_ports\nhttp_access deny all$/m)
  t.match(conf, /^cache deny all$/m)
  t.match(conf, /^dns_nameservers 127\.0\.0\.1$/m, 'a stray DNS query stays on loopback')
  t.match(conf, /^hosts_file \/tmp\/x\/hosts$/m)
})
