/** What the CONNECT suites share: the policy most of their tests run, and the names it pins. */

/** The policy most tests run: origin.test on any port, a narrow host, the paste-site block, loopback allowed. */
export function policy(options: { default?: 'ask' | 'deny'; allowPrivate?: boolean; allow?: string[] } = {}): string {
  return [
    'version: 1',
    `default: ${options.default ?? 'ask'}`,
    'allow:',
    '  - "origin.test:*"',
    '  - narrow.test:443',
    '  - "127.0.0.0/8:*"',
    ...(options.allow ?? []).map((rule) => `  - "${rule}"`),
    'block:',
    '  - "*.pastebin.com"',
    ...(options.allowPrivate === false ? [] : ['allow_private:', '  - 127.0.0.0/8']),
    '',
  ].join('\n')
}

/** The names the tests use, all on loopback. */
export const PINS = { 'origin.test': '127.0.0.1', 'narrow.test': '127.0.0.1', 'evil.pastebin.com': '127.0.0.1', 'unknown.test': '127.0.0.1' }
