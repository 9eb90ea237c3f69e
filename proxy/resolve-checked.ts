/**
 * Resolves an allowed destination and checks every address before one is used, so the proxy connects
 * to exactly the address it checked (no second lookup: DNS rebinding cannot swap it in between).
 */
import { networkInterfaces } from 'node:os'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { checkAddress } from '../policy/check-address.js'
import type { Destination, Policy } from '../policy/types.js'
import type { Resolver } from './resolver.js'

/** The outcome: an address to connect to, or a refusal value that says why. */
export type CheckedAddress =
  | { readonly ok: true; readonly address: string }
  | { readonly ok: false; readonly reason: 'private-address' | 'proxy-loop'; readonly detail: string }

/** The proxy's own listeners, which are never a destination on any local address. */
export interface SelfAddresses {
  readonly ports: ReadonlySet<number>
  isLocal(address: string): boolean
}

/** This host's addresses (loopback, unspecified, every interface), with the live set of our listener ports. */
export function localSelf(ports: ReadonlySet<number>): SelfAddresses {
  const interfaces = new Set<string>()
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) interfaces.add(canonical(entry.address))
  }
  return {
    ports,
    isLocal(address) {
      const parsed = unmap(address)
      const range = parsed.range()
      return range === 'loopback' || range === 'unspecified' || interfaces.has(parsed.toString())
    },
  }
}

function unmap(address: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const parsed = ipaddr.parse(address.replace(/%.*$/, ''))
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed
}

function canonical(address: string): string {
  return unmap(address).toString()
}

/**
 * Resolves (unless the destination is an IP literal) and returns the first address that passes. An IP
 * literal or a pinned name is checked at once, without a promise.
 */
export function resolveChecked(destination: Destination, policy: Policy, resolver: Resolver, self: SelfAddresses): CheckedAddress | Promise<CheckedAddress> {
  if (destination.kind !== 'name') return firstPassing(destination, [destination.host], policy, self)
  const addresses = resolver.resolve(destination.host)
  return addresses instanceof Promise ? addresses.then((found) => firstPassing(destination, found, policy, self)) : firstPassing(destination, addresses, policy, self)
}

function firstPassing(destination: Destination, addresses: readonly string[], policy: Policy, self: SelfAddresses): CheckedAddress {
  let refusal: CheckedAddress | undefined
  for (const address of addresses) {
    if (isIP(address) === 0) continue
    const verdict = checkOne(address, destination.port, policy, self)
    if (verdict.ok) return verdict
    refusal ??= verdict
  }
  return refusal ?? { ok: false, reason: 'private-address', detail: `${destination.host} resolved to no usable address` }
}

function checkOne(address: string, port: number, policy: Policy, self: SelfAddresses): CheckedAddress {
  if (self.ports.has(port) && self.isLocal(address)) {
    return { ok: false, reason: 'proxy-loop', detail: `${address}:${port} is one of this proxy's own listeners` }
  }
  const check = checkAddress(policy, address)
  if (!check.ok) return { ok: false, reason: 'private-address', detail: `the address ${address} is ${check.range}` }
  return { ok: true, address }
}
