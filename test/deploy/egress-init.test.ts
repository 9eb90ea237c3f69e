// deploy/egress-init.sh applied inside a network namespace the test creates: only the proxy's UID
// may leave; the agent reaches nothing but the proxy's port on loopback, over any protocol or family.
import t, { type Test } from 'tap'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inNs, makeNamespaces, netnsUnavailable, onPath, run, startIn, asUid, type Namespaces } from './helpers/netns.js'
import { probeAll, SERVERS_JS, type Listen, type Probe, type ProbeResult } from './helpers/probe.js'

// Real namespaces, processes and builds on a 2-core machine: well past tap's default per-file timeout.
t.setTimeout(300_000)
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const SCRIPT = join(ROOT, 'deploy/egress-init.sh')
const CLI = join(ROOT, 'dist/proxy/cli.js')
const PROXY_UID = 1337
const AGENT_UID = 2000
const PROXY_PORT = 3128
const ADMIN_PORT = 3129
/** Only CAP_NET_ADMIN, as the manifest grants the init container. */
const NET_ADMIN_ONLY = ['setpriv', '--inh-caps=-all', '--bounding-set=-all,+net_admin']

const unavailable = netnsUnavailable(['iptables', 'ip6tables', 'iptables-legacy', 'iptables-nft'])
/** Every subtest is skipped, saying why, where namespaces or iptables are missing. */
const skip = unavailable === undefined ? false : `${unavailable} (apt-get install -y iptables)`

/** Runs the script in the pod namespace with only NET_ADMIN; returns exit status and output. */
function applyScript(ns: string, env: Record<string, string>, caps = NET_ADMIN_ONLY): { status: number; output: string } {
  try {
    const output = inNs(ns, caps[0]!, [...caps.slice(1), SCRIPT], { ...process.env, ...env })
    return { status: 0, output }
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string }
    return { status: e.status, output: `${e.stdout}${e.stderr}` }
  }
}

/** Both families' rulesets, without the timestamped comment lines, for one backend. */
function saved(ns: string, mode: 'nft' | 'legacy'): string {
  // Comments carry timestamps, and a chain's policy counters count whatever the namespace sent in between
  // (one packet through OUTPUT made a CI run differ): the rules are what must not change.
  const strip = (s: string): string => s.split('\n').filter(l => !l.startsWith('#')).map(l => l.replace(/^(:\S+ \S+) \[\d+:\d+\]$/, '$1')).join('\n')
  return strip(inNs(ns, `iptables-${mode}-save`, [])) + strip(inNs(ns, `ip6tables-${mode}-save`, []))
}

/** The fake internet (HTTP, UDP echo, DNS port) and the pod's other loopback listeners. */
async function startServers(ns: Namespaces, withStandInProxy: boolean): Promise<void> {
  const internet: Listen[] = [
    { proto: 'http', host: ns.netV4, port: 80 }, { proto: 'http', host: ns.netV6, port: 80 },
    { proto: 'tcp', host: ns.netV4, port: 53 },
    { proto: 'udp', host: ns.netV4, port: 53 }, { proto: 'udp', host: ns.netV4, port: 5353 },
    { proto: 'udp', host: ns.netV6, port: 53 }, { proto: 'udp', host: ns.netV6, port: 5353 },
  ]
  // Loopback services in the pod that are NOT the proxy: the agent must not reach them either.
  const loopback: Listen[] = [
    { proto: 'tcp', host: '127.0.0.1', port: 9999 }, { proto: 'tcp', host: '::1', port: 9999 },
    { proto: 'tcp', host: '::1', port: PROXY_PORT }, { proto: 'tcp', host: '::1', port: ADMIN_PORT },
    { proto: 'udp', host: '127.0.0.1', port: 5353 },
  ]
  if (withStandInProxy) {
    loopback.push({ proto: 'tcp', host: '127.0.0.1', port: PROXY_PORT }, { proto: 'tcp', host: '127.0.0.1', port: ADMIN_PORT })
  }
  await startIn(t, ns.net, [process.execPath, '-e', SERVERS_JS, JSON.stringify(internet)], /ready/)
  await startIn(t, ns.pod, [process.execPath, '-e', SERVERS_JS, JSON.stringify(loopback)], /ready/)
}

interface Row { readonly why: string; readonly uid: number; readonly probe: Probe; readonly ok: boolean }

function rows(ns: Namespaces): Row[] {
  const tcp = (host: string, port: number): Probe => ({ kind: 'tcp', host, port })
  const udp = (host: string, port: number): Probe => ({ kind: 'udp', host, port })
  return [
    { why: 'agent: direct TCP to the origin is refused', uid: AGENT_UID, probe: tcp(ns.netV4, 80), ok: false },
    { why: 'agent: direct TCP over IPv6 is refused', uid: AGENT_UID, probe: tcp(ns.netV6, 80), ok: false },
    { why: 'agent: an IPv4-mapped IPv6 address is still IPv4 and refused', uid: AGENT_UID, probe: tcp(`::ffff:${ns.netV4}`, 80), ok: false },
    { why: 'agent: UDP over IPv4 is refused', uid: AGENT_UID, probe: udp(ns.netV4, 5353), ok: false },
    { why: 'agent: UDP over IPv6 is refused', uid: AGENT_UID, probe: udp(ns.netV6, 5353), ok: false },
    { why: 'agent: DNS over UDP 53 is refused (the proxy resolves names)', uid: AGENT_UID, probe: udp(ns.netV4, 53), ok: false },
    { why: 'agent: DNS over UDP 53 on IPv6 is refused', uid: AGENT_UID, probe: udp(ns.netV6, 53), ok: false },
    { why: 'agent: DNS over TCP 53 is refused', uid: AGENT_UID, probe: tcp(ns.netV4, 53), ok: false },
    { why: 'agent: the admin listener on 127.0.0.1 is refused', uid: AGENT_UID, probe: tcp('127.0.0.1', ADMIN_PORT), ok: false },
    { why: 'agent: the admin port on ::1 is refused', uid: AGENT_UID, probe: tcp('::1', ADMIN_PORT), ok: false },
    { why: 'agent: another loopback service is refused', uid: AGENT_UID, probe: tcp('127.0.0.1', 9999), ok: false },
    { why: 'agent: another loopback service on ::1 is refused', uid: AGENT_UID, probe: tcp('::1', 9999), ok: false },
    { why: 'agent: loopback UDP is refused', uid: AGENT_UID, probe: udp('127.0.0.1', 5353), ok: false },
    { why: 'agent: the proxy port on 127.0.0.1 is open', uid: AGENT_UID, probe: tcp('127.0.0.1', PROXY_PORT), ok: true },
    { why: 'agent: the proxy port on ::1 is open', uid: AGENT_UID, probe: tcp('::1', PROXY_PORT), ok: true },
    { why: 'root without the proxy UID is refused too', uid: 0, probe: tcp(ns.netV4, 80), ok: false },
    { why: 'proxy UID: direct TCP to the origin works', uid: PROXY_UID, probe: tcp(ns.netV4, 80), ok: true },
    { why: 'proxy UID: IPv6 works', uid: PROXY_UID, probe: tcp(ns.netV6, 80), ok: true },
    { why: 'proxy UID: UDP works', uid: PROXY_UID, probe: udp(ns.netV4, 5353), ok: true },
    { why: 'proxy UID: DNS works', uid: PROXY_UID, probe: udp(ns.netV4, 53), ok: true },
    { why: 'proxy UID: IPv6 DNS works', uid: PROXY_UID, probe: udp(ns.netV6, 53), ok: true },
    { why: 'proxy UID: its own admin listener works', uid: PROXY_UID, probe: tcp('127.0.0.1', ADMIN_PORT), ok: true },
  ]
}

/** Runs every row (one process per UID) and checks refusals are fast (REJECT), not timeouts (DROP). */
async function checkRows(t: Test, ns: Namespaces): Promise<void> {
  const all = rows(ns)
  for (const uid of new Set(all.map(r => r.uid))) {
    const mine = all.filter(r => r.uid === uid)
    const results = await probeAll(ns.pod, uid, mine.map(r => r.probe))
    mine.forEach((row, i) => checkRow(t, row, results[i]))
  }
}

function checkRow(t: Test, row: Row, got: ProbeResult | undefined): void {
  t.equal(got?.ok, row.ok, `${row.why} (${got?.code ?? 'ok'}, ${got?.ms}ms)`, { got })
  if (row.ok || row.probe.kind !== 'tcp') return
  t.equal(got?.code, 'ECONNREFUSED', `${row.why}: rejected with a reset, not dropped`, { got })
  t.ok((got?.ms ?? Infinity) < 1000, `${row.why}: fails fast`)
}

for (const mode of ['nft', 'legacy'] as const) {
  t.test(`${mode}: only the proxy UID gets out`, { skip }, async t => {
    const ns = makeNamespaces(t)
    await startServers(ns, true)
    // Before the rules, the agent reaches everything: the refusals below are the script's doing.
    const before = await probeAll(ns.pod, AGENT_UID, [{ kind: 'tcp', host: ns.netV4, port: 80 }, { kind: 'udp', host: ns.netV6, port: 53 }])
    t.match(before, [{ ok: true }, { ok: true }], 'agent reaches the origin and IPv6 DNS before the rules')
    // iptables-legacy opens a raw socket and so needs CAP_NET_RAW as well; nft needs NET_ADMIN alone.
    const caps = mode === 'nft' ? NET_ADMIN_ONLY : ['setpriv', '--inh-caps=-all', '--bounding-set=-all,+net_admin,+net_raw']
    const applied = applyScript(ns.pod, { IPTABLES_MODE: mode }, caps)
    t.equal(applied.status, 0, 'script succeeds', { output: applied.output })
    t.match(applied.output, /IPv4: jump OUTPUT -> GUARDED_EGRESS inserted/, 'says what it did for IPv4')
    t.match(applied.output, /IPv6: jump OUTPUT -> GUARDED_EGRESS inserted/, 'says what it did for IPv6')
    // Forget the neighbours learnt before the rules: IPv6 must rediscover them through the chain.
    for (const name of [ns.pod, ns.net]) run('ip', ['-n', name, 'neigh', 'flush', 'all'])
    await checkRows(t, ns)
  })

  t.test(`${mode}: running twice leaves an identical ruleset`, { skip }, async t => {
    const ns = makeNamespaces(t)
    const caps = ['setpriv', '--inh-caps=-all', '--bounding-set=-all,+net_admin,+net_raw']
    t.equal(applyScript(ns.pod, { IPTABLES_MODE: mode }, caps).status, 0)
    const first = saved(ns.pod, mode)
    const again = applyScript(ns.pod, { IPTABLES_MODE: mode }, caps)
    t.equal(again.status, 0)
    t.match(again.output, /already present; chain rebuilt/)
    t.equal(saved(ns.pod, mode), first, 'iptables-save and ip6tables-save unchanged')
    t.equal(first.match(/^-A OUTPUT -j GUARDED_EGRESS$/gm)?.length, 2, 'one jump per family')
    // A changed setting rebuilds the chain rather than appending to it.
    t.equal(applyScript(ns.pod, { IPTABLES_MODE: mode, PROXY_PORT: '8080' }, caps).status, 0)
    const changed = saved(ns.pod, mode)
    t.equal(changed.match(/--dport 8080/g)?.length, 2, 'new port in both families')
    t.notMatch(changed, /--dport 3128/, 'old port gone')
    t.equal(changed.split('\n').length, first.split('\n').length, 'same number of rules')
  })
}

t.test('refuses to start a pod it cannot enforce', { skip }, async t => {
  const ns = makeNamespaces(t)
  const legacy = applyScript(ns.pod, { IPTABLES_MODE: 'legacy' })
  t.equal(legacy.status, 1, 'a rule that cannot be applied (legacy without NET_RAW) exits 1', { output: legacy.output })
  t.match(legacy.output, /refusing to start an unenforced pod/)
  for (const [env, why] of [
    [{ PROXY_UID: 'proxy' }, 'non-numeric UID'],
    [{ PROXY_UID: '0' }, 'UID 0 would exempt every root process'],
    [{ PROXY_PORT: '70000' }, 'port out of range'],
    [{ IPTABLES_MODE: 'ebpf' }, 'unknown backend'],
  ] as const) {
    const got = applyScript(ns.pod, env)
    t.equal(got.status, 2, why, { output: got.output })
  }
  t.notMatch(inNs(ns.pod, 'iptables-nft-save', []), /GUARDED_EGRESS/, 'bad settings applied nothing')
})

t.test('through the real proxy: allowed gets through, blocked gets 403', { skip: skip || (existsSync(CLI) ? false : `${CLI} not built (npm run build)`) }, async t => {
  const ns = makeNamespaces(t)
  await startServers(ns, false)
  t.equal(applyScript(ns.pod, { IPTABLES_MODE: 'nft' }).status, 0)
  const dir = mkdtempSync(join(tmpdir(), 'guarded-egress-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  chmodSync(dir, 0o755)
  const policy = join(dir, 'policy.yaml')
  const token = join(dir, 'admin-token')
  writeFileSync(token, 'test-admin-token-0123456789abcdef\n', { mode: 0o644 })
  writeFileSync(policy, `version: 1\ndefault: deny\nallow:\n  - origin.test\nblock:\n  - blocked.test\nallow_private:\n  - 192.0.2.0/24\n`, { mode: 0o644 })
  await startIn(t, ns.pod, [...asUid(PROXY_UID), process.execPath, CLI, 'serve', '--policy', policy,
    '--listen', `127.0.0.1:${PROXY_PORT}`, '--admin', `127.0.0.1:${ADMIN_PORT}`, '--admin-token-file', token,
    // blocked.test resolves to the same origin: only the policy stands between the agent and it.
    '--resolve', `origin.test=${ns.netV4}`, '--resolve', `blocked.test=${ns.netV4}`], /guarded-proxy admin on/)
  const proxy = `127.0.0.1:${PROXY_PORT}`
  const [allowed, blocked, tunnel, direct, admin] = await probeAll(ns.pod, AGENT_UID, [
    { kind: 'get', proxy, url: 'http://origin.test/hello' },
    { kind: 'get', proxy, url: 'http://blocked.test/hello' },
    { kind: 'connect', proxy, authority: 'origin.test:80' },
    { kind: 'tcp', host: ns.netV4, port: 80 },
    { kind: 'tcp', host: '127.0.0.1', port: ADMIN_PORT },
  ])
  t.match(allowed, { ok: true, status: 200, body: 'origin 80 /hello' }, 'agent reaches the allowed origin via the proxy')
  t.match(blocked, { ok: true, status: 403 }, 'a blocked destination gets the 403')
  t.match(tunnel, { ok: true, status: 200 }, 'CONNECT to the allowed origin opens a tunnel')
  t.match(direct, { ok: false, code: 'ECONNREFUSED' }, 'the same origin, directly, is refused')
  t.match(admin, { ok: false, code: 'ECONNREFUSED' }, 'the real admin listener is refused to the agent')
})

t.test('tools', { skip }, async t => {
  t.ok(onPath('iptables-nft-restore') && onPath('iptables-legacy-restore'), 'both backends installed')
  t.equal(run('bash', ['-n', SCRIPT]), '', 'script parses')
})
