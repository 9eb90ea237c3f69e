/**
 * Issue 3: how long a parked client waits after an approver decides, and what a parked request costs
 * in memory. Our proxy runs as a child on the proxy core with `--approver api` and `default: ask`.
 */
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { adminClient, type AdminClient } from './admin-client.js'
import { percentile } from './percentile.js'
import { treeRssBytes } from './proc-stats.js'
import { startProxy, type GuardedProxy } from './start-proxy.js'
import type { ApprovalFigures, Origin } from './types.js'

/**
 * Requests settled one at a time: first unrecorded, as every load phase first carries unrecorded load
 * (a fresh proxy runs the approval and forwarding code cold: the first twenty took a median of 3.7–6 ms
 * here, the hundredth on about 1 ms); then recorded, enough that p99 is not simply the slowest one.
 * And requests parked at once for memory.
 */
export const APPROVALS = { warmup: 100, settled: 100, parked: 1000 } as const

/** The unknown name the settled requests ask for, pinned to the origin with `--resolve`. */
const ASK_NAME = 'ask.bench.test'

/** Every wait on the proxy gives up after this: a phase that hangs must still end. */
const WAIT_MS = 20_000

/** Time for the proxy to finish its per-request work before RSS is read (as measure-idle does). */
const SETTLE_MS = 1000

/** Everything unknown is asked about; loopback is allowed only so the settled requests reach the origin. */
export function approvalsPolicyText(): string {
  return [
    'version: 1',
    'default: ask',
    'allow_private: ["127.0.0.0/8"]',
    `approval: {approvers: [api], timeout: 60s, max_pending: ${2 * APPROVALS.parked}, max_pending_total: ${2 * APPROVALS.parked}}`,
    '',
  ].join('\n')
}

/** Decision latency first, after the warm-up, then RSS with `APPROVALS.parked` parked. */
export async function measureApprovals(origin: Origin, dir: string): Promise<ApprovalFigures> {
  const proxy = await startProxy(origin, dir, { policyText: approvalsPolicyText(), args: ['--approver', 'api', '--resolve', `${ASK_NAME}=127.0.0.1`] })
  try {
    const admin = await adminClient(proxy.adminUrl, proxy.tokenFile)
    try {
      for (let i = 0; i < APPROVALS.warmup; i++) await settleOne(proxy, admin, origin)
      const samples: number[] = []
      for (let i = 0; i < APPROVALS.settled; i++) samples.push(await settleOne(proxy, admin, origin))
      return { warmup: APPROVALS.warmup, settled: samples.length, p50Ms: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99), ...(await parkedMemory(proxy, admin, origin)) }
    } finally {
      admin.close()
    }
  } finally {
    await proxy.stop()
  }
}

/** Opens a socket to the proxy and sends `head`; resolves once connected. */
async function send(proxy: GuardedProxy, head: string): Promise<Socket> {
  const socket = connect(proxy.port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  socket.on('error', () => {}) // a reset while parked is the proxy's to report; callers see 'end' or no data
  socket.write(head)
  return socket
}

/** Polls `probe` every `everyMs` until it gives a value or WAIT_MS passes. */
async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, everyMs: number): Promise<T> {
  const deadline = performance.now() + WAIT_MS
  while (performance.now() < deadline) {
    const hit = await probe()
    if (hit !== undefined) return hit
    await sleep(everyMs)
  }
  throw new Error(`approvals: ${what} not pending within ${WAIT_MS} ms`)
}

/** Parks one plain-HTTP request, allows it once, and returns ms from sending the decision to the first response byte. */
async function settleOne(proxy: GuardedProxy, admin: AdminClient, origin: Origin): Promise<number> {
  const authority = `${ASK_NAME}:${origin.httpPort}`
  const socket = await send(proxy, `GET http://${authority}/ HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)
  try {
    const firstByte = new Promise<[number, string]>((resolve, reject) => {
      socket.once('data', (chunk: Buffer) => resolve([performance.now(), chunk.toString('latin1', 0, 12)]))
      socket.once('error', reject)
      socket.once('end', () => reject(new Error('approvals: the proxy closed a parked request')))
    })
    firstByte.catch(() => {}) // awaited below; this only keeps an early close from counting as unhandled
    const id = await waitFor(async () => (await admin.pending()).find(a => a.host === ASK_NAME)?.id, ASK_NAME, 1)
    const sent = performance.now()
    const status = await admin.allowOnce(id)
    const [at, head] = await Promise.race([firstByte, sleep(WAIT_MS).then(() => { throw new Error('approvals: no response after allow') })])
    if (status !== 200 || head !== 'HTTP/1.1 200') throw new Error(`approvals: allow answered ${status}, the client got "${head}"`)
    return at - sent
  } finally {
    socket.destroy()
  }
}

/** RSS before and with `APPROVALS.parked` CONNECTs to distinct unknown names parked at once. */
async function parkedMemory(proxy: GuardedProxy, admin: AdminClient, origin: Origin): Promise<Pick<ApprovalFigures, 'parked' | 'bytesPerParked'>> {
  await sleep(SETTLE_MS)
  const before = treeRssBytes(proxy.pid)
  const sockets: Socket[] = []
  try {
    // In batches, so the proxy's accept backlog never overflows into SYN retries.
    for (let i = 0; i < APPROVALS.parked; i += 100) {
      sockets.push(...await Promise.all(Array.from({ length: Math.min(100, APPROVALS.parked - i) }, (_, j) => {
        const authority = `p${i + j}.park.bench.test:${origin.tcpPort}`
        return send(proxy, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)
      })))
    }
    // The gauge, not the list: listing 1,000 approvals would leave garbage in the RSS being measured.
    await waitFor(async () => ((await admin.pendingCount()) >= APPROVALS.parked ? true : undefined), `${APPROVALS.parked} CONNECTs`, 200)
    await sleep(SETTLE_MS)
    const after = treeRssBytes(proxy.pid)
    const parked = (await admin.pending()).filter(a => a.host.endsWith('.park.bench.test')).length // distinct approvals, one per name
    return { parked, bytesPerParked: (after - before) / parked }
  } finally {
    for (const socket of sockets) socket.destroy()
  }
}
