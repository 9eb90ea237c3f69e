import { execFileSync } from 'node:child_process'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ORIGIN_NAME } from './measure-load.js'
import { CORES, spawnPinned, stopChild } from './spawn-pinned.js'
import type { Origin, ProxyUnderTest } from './types.js'

/** Path of Debian's squid binary, or undefined when it is not installed (the bench never installs it). */
export function findSquid(): string | undefined {
  for (const path of ['/usr/sbin/squid', '/usr/local/sbin/squid']) {
    try { execFileSync(path, ['-v'], { stdio: 'ignore' }); return path } catch { /* try the next */ }
  }
  return undefined
}

/** A free loopback port: Squid cannot listen on port 0 and tell us which port it got. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/**
 * Squid configured like our bench policy: the origin's two ports by name allowed, everything
 * else denied; no cache; names from a private hosts file; any stray DNS query stays on loopback.
 */
export function squidConfig(port: number, origin: Origin, dir: string): string {
  return [
    `http_port 127.0.0.1:${port}`,
    'workers 1',
    `acl bench_host dstdomain ${ORIGIN_NAME}`,
    `acl bench_ports port ${origin.tcpPort} ${origin.httpPort}`,
    'http_access allow bench_host bench_ports',
    'http_access deny all',
    'cache deny all',
    `access_log daemon:${join(dir, 'access.log')} squid`,
    `cache_log ${join(dir, 'cache.log')}`,
    `pid_filename ${join(dir, 'squid.pid')}`,
    `coredump_dir ${dir}`,
    `hosts_file ${join(dir, 'hosts')}`,
    'dns_nameservers 127.0.0.1',
    'pinger_enable off',
    'max_filedescriptors 8192',
    'shutdown_lifetime 0 seconds',
    '',
  ].join('\n')
}

/** Polls until something accepts on `port`: Squid prints no ready line. */
async function waitForListener(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>(resolve => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (up) return
    await sleep(100)
  }
  throw new Error(`squid did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`)
}

/** Starts `squid -N` on the proxy core with the bench configuration in its own temp dir. */
export async function startSquid(squid: string, origin: Origin, parent: string): Promise<ProxyUnderTest> {
  const dir = join(parent, 'squid')
  await mkdir(dir)
  // Squid drops to its own user (proxy) before its log daemon writes here: it must reach and write the dir
  await chmod(parent, 0o755)
  await chmod(dir, 0o777)
  const port = await freePort()
  const conf = join(dir, 'squid.conf')
  await writeFile(join(dir, 'hosts'), `127.0.0.1 ${ORIGIN_NAME}\n`)
  await writeFile(conf, squidConfig(port, origin, dir))
  const child = spawnPinned(CORES.proxy, squid, ['-N', '-f', conf])
  child.stdout?.resume()
  child.stderr?.resume()
  try {
    await waitForListener(port, 15_000)
    return { via: 'squid', port, pid: child.pid!, stop: () => stopChild(child) }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}
