/**
 * The one catalogue of reason codes. `X-Guarded-Decision` carries exactly these words; the README's
 * table is written from this list, and events and metrics reuse them as values.
 */
export const REASONS = {
  allowed: { status: 200, summary: 'an allow rule matches this destination' },
  internal: { status: 200, summary: 'answered by the proxy itself at guarded.internal' },
  approved: { status: 200, summary: 'an approver allowed this destination' },
  blocked: { status: 403, summary: 'a block rule matches this destination' },
  unknown: { status: 403, summary: 'no rule allows this destination and the policy default is deny' },
  'port-not-allowed': { status: 403, summary: 'the host is allowed, but not on this port' },
  'approval-required': { status: 403, summary: 'the destination needs an approval and no approver is configured' },
  'approval-denied': { status: 403, summary: 'an approver denied this destination' },
  'approval-timeout': { status: 403, summary: 'no approver decided in time, so the request fails closed' },
  'approval-error': { status: 403, summary: 'the approver failed or answered nonsense, so the request fails closed' },
  'approval-queue-full': { status: 429, summary: 'too many requests are already waiting for approval' },
  'private-address': { status: 403, summary: 'the name resolves to a private, loopback, link-local or otherwise non-public address' },
  'proxy-loop': { status: 403, summary: 'the destination is this proxy itself' },
  'reserved-name': { status: 403, summary: 'guarded.internal is served by the proxy and never forwarded' },
  'bad-request': { status: 400, summary: 'the request is malformed' },
  'not-a-proxy-request': { status: 400, summary: 'the request was addressed to the proxy, not through it' },
  'unsupported-protocol': { status: 400, summary: 'the request uses a protocol feature the proxy refuses (h2c, a transfer coding other than chunked)' },
  'auth-required': { status: 407, summary: 'the proxy needs valid session credentials' },
  'audit-unavailable': { status: 503, summary: 'the audit log cannot keep up, and no egress goes unrecorded' },
  'too-many-connections': { status: 503, summary: 'the proxy is at its connection limit' },
  'upstream-unresolvable': { status: 502, summary: 'the destination name does not resolve' },
  'upstream-unreachable': { status: 502, summary: 'the destination refused or dropped the connection' },
  'upstream-timeout': { status: 504, summary: 'the destination did not answer in time' },
  'upstream-certificate': { status: 502, summary: "the destination's TLS certificate failed verification" },
  'method-not-allowed': { status: 403, summary: 'the host is allowed, but not this request method' },
  'path-not-allowed': { status: 403, summary: 'the host is allowed, but not this path' },
  'host-mismatch': { status: 403, summary: 'the request inside the tunnel names a different host than the tunnel' },
  'sni-mismatch': { status: 403, summary: 'the TLS ClientHello names a different host than the CONNECT target' },
  'not-tls': { status: 403, summary: 'the tunnel did not start with a TLS ClientHello on a port the policy lists in tls_ports' },
} as const satisfies Record<string, { status: number; summary: string }>

/** A reason code: the value of `X-Guarded-Decision` and `guarded.reason`. */
export type ReasonCode = keyof typeof REASONS
