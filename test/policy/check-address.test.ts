import t from 'tap'
import { checkAddress } from '../../policy/check-address.js'
import { loadPolicy } from '../../policy/load.js'

const strict = loadPolicy([{ file: 'strict.yaml', text: 'version: 1\n' }])

const refused: readonly (readonly [address: string, range: string, why: string])[] = [
  ['127.0.0.1', 'loopback', 'the proxy host itself'],
  ['127.255.255.254', 'loopback', 'all of 127/8'],
  ['10.1.2.3', 'private (RFC 1918)', '10/8'],
  ['172.16.0.1', 'private (RFC 1918)', '172.16/12, low end'],
  ['172.31.255.255', 'private (RFC 1918)', '172.16/12, high end'],
  ['192.168.1.1', 'private (RFC 1918)', '192.168/16'],
  ['169.254.169.254', 'link-local (cloud metadata)', 'AWS/GCP/Azure IMDS'],
  ['169.254.1.1', 'link-local', 'the rest of 169.254/16'],
  ['168.63.129.16', 'cloud metadata (Azure)', "Azure's wire server is a public address"],
  ['100.100.100.200', 'cloud metadata (Alibaba)', 'Alibaba metadata, inside CGNAT'],
  ['100.64.0.1', 'carrier-grade NAT', '100.64/10'],
  ['100.127.255.255', 'carrier-grade NAT', '100.64/10, high end'],
  ['192.0.0.8', 'IETF protocol assignments', '192.0.0.0/24'],
  ['0.0.0.0', 'unspecified', 'connects to the local host on Linux'],
  ['0.1.2.3', 'this network (0.0.0.0/8)', '0/8'],
  ['240.0.0.1', 'reserved (240.0.0.0/4)', 'class E'],
  ['255.255.255.255', 'broadcast', 'limited broadcast'],
  ['198.18.0.1', 'benchmarking', '198.18/15'],
  ['198.19.255.255', 'benchmarking', '198.18/15, high end'],
  ['224.0.0.1', 'multicast', 'IPv4 multicast'],
  ['239.255.255.250', 'multicast', 'SSDP'],
  ['192.0.2.1', 'documentation', 'TEST-NET-1'],
  ['::1', 'loopback', 'IPv6 loopback'],
  ['::', 'unspecified', 'IPv6 unspecified'],
  ['fe80::1', 'link-local', 'fe80::/10'],
  ['febf::1', 'link-local', 'fe80::/10, high end'],
  ['fd00:ec2::254', 'cloud metadata (AWS)', 'AWS IMDS over IPv6'],
  ['fc00::1', 'unique-local', 'fc00::/7'],
  ['fd12:3456::1', 'unique-local', 'fd00::/8 is inside fc00::/7'],
  ['ff02::1', 'multicast', 'IPv6 multicast'],
  ['fec0::1', 'site-local (deprecated)', 'fec0::/10'],
  ['2001:db8::1', 'documentation', '2001:db8::/32'],
  ['4000::1', 'reserved (outside 2000::/3)', 'only 2000::/3 is global unicast'],
  ['::ffff:127.0.0.1', 'loopback via IPv4-mapped 127.0.0.1', 'IPv4-mapped loopback'],
  ['::ffff:7f00:1', 'loopback via IPv4-mapped 127.0.0.1', 'IPv4-mapped, hex spelling'],
  ['::ffff:169.254.169.254', 'link-local (cloud metadata) via IPv4-mapped 169.254.169.254', 'IPv4-mapped metadata'],
  ['::127.0.0.1', 'loopback via IPv4-compatible 127.0.0.1', 'IPv4-compatible ::/96'],
  ['::10.0.0.1', 'private (RFC 1918) via IPv4-compatible 10.0.0.1', 'IPv4-compatible private'],
  ['64:ff9b::7f00:1', 'loopback via NAT64 127.0.0.1', 'NAT64 well-known prefix (RFC 6052)'],
  ['64:ff9b::a9fe:a9fe', 'link-local (cloud metadata) via NAT64 169.254.169.254', 'NAT64 to metadata'],
  ['64:ff9b:1::8.8.8.8', 'NAT64 local-use', 'RFC 8215 local-use prefix: refused whole, the layout is local'],
  ['2002:7f00:1::1', 'loopback via 6to4 127.0.0.1', '6to4 embeds at bits 16-47'],
  ['2002:a00:1::', 'private (RFC 1918) via 6to4 10.0.0.1', '6to4 private'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback via Teredo 127.0.0.1', 'Teredo client: last 32 bits inverted'],
  ['2001::f5ff:fffe', 'private (RFC 1918) via Teredo 10.0.0.1', 'Teredo client 10.0.0.1'],
  ['[::1]', 'loopback', 'bracketed literals are accepted'],
  ['2130706433', 'loopback', 'numeric forms are normalised first'],
  ['localhost', 'not an IP address', 'a name is never an address: fail closed'],
]

const allowed: readonly (readonly [address: string, why: string])[] = [
  ['8.8.8.8', 'public IPv4'],
  ['140.82.112.3', 'public IPv4 (github.com)'],
  ['100.63.255.255', 'just below CGNAT'],
  ['100.128.0.0', 'just above CGNAT'],
  ['172.15.255.255', 'just below 172.16/12'],
  ['172.32.0.0', 'just above 172.16/12'],
  ['169.253.255.255', 'just below link-local'],
  ['198.17.255.255', 'just below benchmarking'],
  ['223.255.255.255', 'just below multicast'],
  ['2606:4700::1111', 'public IPv6'],
  ['2a00:1450:4001::1', 'public IPv6'],
  ['::ffff:8.8.8.8', 'IPv4-mapped public'],
  ['64:ff9b::808:808', 'NAT64 of a public address'],
  ['2002:808:808::1', '6to4 of a public address'],
  ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'Teredo client 8.8.8.8'],
]

t.test('refuses every non-public range, naming it', async (t) => {
  for (const [address, range, why] of refused) t.same(checkAddress(strict, address), { ok: false, reason: 'private-address', range }, `${address}: ${why}`)
})

t.test('allows public addresses, including near the edges of refused ranges', async (t) => {
  for (const [address, why] of allowed) t.same(checkAddress(strict, address), { ok: true }, `${address}: ${why}`)
})

t.test('allow_private opens exactly the ranges it names', async (t) => {
  const policy = loadPolicy([{ file: 'p.yaml', text: 'version: 1\nallow_private:\n  - 10.20.0.0/16\n  - fd00:1::/32\n  - 169.254.169.254/32\n' }])
  const rows: readonly (readonly [string, boolean, string])[] = [
    ['10.20.1.1', true, 'inside 10.20/16'],
    ['10.21.0.1', false, 'outside it, still RFC 1918'],
    ['::ffff:10.20.1.1', true, 'the IPv4-mapped form of a covered address is the same host'],
    ['64:ff9b::a14:101', true, 'NAT64 of 10.20.1.1: the destination is covered'],
    ['fd00:1::5', true, 'a unique-local /32'],
    ['fd00:2::5', false, 'the next unique-local /32'],
    ['169.254.169.254', true, 'metadata, if an operator really asks for it'],
    ['127.0.0.1', false, 'loopback stays refused'],
  ]
  for (const [address, ok, why] of rows) t.equal(checkAddress(policy, address).ok, ok, `${address}: ${why}`)
})
