// deploy/systemd: the unit passes systemd's own checks and carries its hardening; the nftables
// example parses and, loaded into a namespace, lets only the proxy's UID out.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inNs, makeNamespaces, netnsUnavailable, onPath, run, startIn } from './helpers/netns.js'
import { probeAll, SERVERS_JS } from './helpers/probe.js'

// Real namespaces, processes and builds on a 2-core machine: well past tap's default per-file timeout.
t.setTimeout(120_000)
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const UNIT = join(ROOT, 'deploy/systemd/guarded-proxy.service')
const NFT = join(ROOT, 'deploy/systemd/nftables-egress.nft')
const SYSUSERS = join(ROOT, 'deploy/systemd/guarded.sysusers.conf')

/** Every `Key=value` of one section, values of repeated keys in order. */
function section(text: string, name: string): Map<string, string[]> {
  const keys = new Map<string, string[]>()
  const joined = text.replace(/\\\n\s*/g, ' ')
  let current = ''
  for (const line of joined.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line.trim())
    if (header) { current = header[1]!; continue }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (current === name && kv) keys.set(kv[1]!, [...(keys.get(kv[1]!) ?? []), kv[2]!])
  }
  return keys
}

t.test('the unit carries its sandbox', async t => {
  const service = section(readFileSync(UNIT, 'utf8'), 'Service')
  const expect: Record<string, string> = {
    User: 'guarded', NoNewPrivileges: 'yes', CapabilityBoundingSet: '', AmbientCapabilities: '',
    ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
    RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX', RestrictNamespaces: 'yes',
    SystemCallArchitectures: 'native', LogsDirectory: 'guarded', StateDirectory: 'guarded',
    ExecReload: '/bin/kill -HUP $MAINPID', KillSignal: 'SIGTERM', UMask: '0077',
  }
  for (const [key, value] of Object.entries(expect)) t.same(service.get(key), [value], `${key}=${value}`)
  t.same(service.get('SystemCallFilter'), ['@system-service', '~@privileged'], 'system calls limited to @system-service')
  t.notOk(service.has('MemoryDenyWriteExecute'), 'no MemoryDenyWriteExecute: V8 needs W+X pages')
  const exec = service.get('ExecStart')?.[0] ?? ''
  for (const flag of ['--policy /etc/guarded/policy.yaml', '--requirements /etc/guarded/requirements.yaml',
    '--listen 127.0.0.1:3128', '--admin 127.0.0.1:3129', '--metrics 127.0.0.1:9090',
    '--admin-token-file ${CREDENTIALS_DIRECTORY}/admin-token', '--audit-log /var/log/guarded/audit.jsonl',
    '--decisions /var/lib/guarded/decisions.yaml']) {
    t.ok(exec.includes(flag), `ExecStart has ${flag}`)
  }
  t.match(readFileSync(SYSUSERS, 'utf8'), /^u guarded 1337 /m, 'sysusers pins the UID the nft rules match')
  t.match(readFileSync(NFT, 'utf8'), /^define proxy_uid = 1337$/m, 'nft matches the same UID')
})

t.test('systemd-analyze verify and security', { skip: onPath('systemd-analyze') ? false : 'systemd-analyze not installed' }, async t => {
  // verify exits 0 on unknown keys and only warns on stderr, so the test reads stderr.
  const verify = (unit: string): string => {
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' })
    return `${r.status === 0 ? '' : `exit ${r.status}\n`}${r.stdout}${r.stderr}`
  }
  t.equal(verify(UNIT), '', 'verify reports nothing')
  const dir = mkdtempSync(join(tmpdir(), 'guarded-unit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const typo = join(dir, 'guarded-proxy.service')
  writeFileSync(typo, readFileSync(UNIT, 'utf8').replace('NoNewPrivileges=', 'NoNewPrivilege='))
  t.match(verify(typo), /Unknown key 'NoNewPrivilege'/, 'a misspelt key would be caught')
  const security = run('systemd-analyze', ['security', '--offline=true', '--no-pager', UNIT])
  const score = Number(/Overall exposure level for .*: ([\d.]+)/.exec(security)?.[1])
  t.ok(score <= 2, `exposure score ${score} is at most 2 ("OK")`)
})

const nftSkip = netnsUnavailable(['nft']) ?? false
t.test('nftables example: parses, is idempotent, lets only the proxy UID out', { skip: nftSkip && `${nftSkip} (apt-get install -y nftables)` }, async t => {
  const ns = makeNamespaces(t)
  t.equal(inNs(ns.pod, 'nft', ['-c', '-f', NFT]), '', 'nft -c accepts the file')
  await startIn(t, ns.net, [process.execPath, '-e', SERVERS_JS, JSON.stringify([
    { proto: 'http', host: ns.netV4, port: 80 }, { proto: 'http', host: ns.netV6, port: 80 },
    { proto: 'udp', host: ns.netV4, port: 53 }])], /ready/)
  await startIn(t, ns.pod, [process.execPath, '-e', SERVERS_JS, JSON.stringify([
    { proto: 'tcp', host: '127.0.0.1', port: 3128 }, { proto: 'tcp', host: '127.0.0.1', port: 3129 }])], /ready/)
  inNs(ns.pod, 'nft', ['-f', NFT])
  const once = inNs(ns.pod, 'nft', ['list', 'ruleset'])
  inNs(ns.pod, 'nft', ['-f', NFT])
  t.equal(inNs(ns.pod, 'nft', ['list', 'ruleset']), once, 'loading twice leaves the same ruleset')
  for (const name of [ns.pod, ns.net]) run('ip', ['-n', name, 'neigh', 'flush', 'all'])
  const probes = [
    { kind: 'tcp', host: ns.netV4, port: 80 }, { kind: 'tcp', host: ns.netV6, port: 80 },
    { kind: 'udp', host: ns.netV4, port: 53 }, { kind: 'tcp', host: '127.0.0.1', port: 3129 },
    { kind: 'tcp', host: '127.0.0.1', port: 3128 },
  ] as const
  const agent = await probeAll(ns.pod, 2000, probes)
  t.match(agent, [{ ok: false, code: 'ECONNREFUSED' }, { ok: false, code: 'ECONNREFUSED' }, { ok: false },
    { ok: false, code: 'ECONNREFUSED' }, { ok: true }], 'agent: origin v4/v6, DNS and admin refused; proxy port open')
  const proxy = await probeAll(ns.pod, 1337, probes)
  t.match(proxy, [{ ok: true }, { ok: true }, { ok: true }, { ok: true }, { ok: true }], 'proxy UID: everything reachable')
})
