/** Binds a server to a TCP address or a Unix socket and reports where it actually listens. */
import { lstat, unlink } from 'node:fs/promises'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ListenAddress } from './options.js'

/** Where a listener ended up: `url` is what `serve` prints, `port` is undefined for Unix sockets. */
export interface BoundAddress {
  readonly url: string
  readonly port?: number
}

/** Listens, replacing a stale Unix socket file left by a crashed run (but never a regular file). */
export async function listen(server: Server, address: ListenAddress): Promise<BoundAddress> {
  if ('path' in address) await removeStaleSocket(address.path)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const done = (): void => {
      server.off('error', reject)
      resolve()
    }
    if ('path' in address) server.listen(address.path, done)
    else server.listen(address.port, address.host, done)
  })
  if ('path' in address) return { url: `unix:${address.path}` }
  const info = server.address() as AddressInfo
  const host = info.family === 'IPv6' ? `[${info.address}]` : info.address
  return { url: `http://${host}:${info.port}`, port: info.port }
}

async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => undefined)
  if (stat?.isSocket()) await unlink(path)
}
