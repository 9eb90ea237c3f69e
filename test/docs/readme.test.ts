// The README is how users learn the reason codes; this keeps its table and the catalogue in step.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { REASONS } from '../../policy/reasons.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test('every reason code is documented in the README with its status and summary', async (t) => {
  for (const [code, { status, summary }] of Object.entries(REASONS)) {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${code}\` |`))
    t.ok(row, `${code} has a row`)
    t.match(row ?? '', ` ${status} `, `${code} row says ${status}`)
    t.match(row ?? '', summary.slice(0, 30), `${code} row carries the catalogue's summary`)
  }
})

t.test('the README documents no reason code that does not exist', async (t) => {
  const documented = [...readme.matchAll(/^\| `([a-z-]+)` \| \d{3} \|/gm)].map((m) => m[1])
  t.same(documented.filter((c) => !(c! in REASONS)), [], 'no stale rows')
})
