// THREAT_MODEL.md names the test that proves each defence; a renamed or deleted test must not leave a dangling proof.
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

const root = new URL('../../', import.meta.url)
const text = readFileSync(new URL('THREAT_MODEL.md', root), 'utf8')
const cited = [...new Set([...text.matchAll(/`([a-z0-9/-]+(?:\/\*)?\.test\.ts|[a-z0-9/-]+\/\*\.test\.ts)`/g)].map((m) => m[1]!))]

t.ok(cited.length >= 20, `the threat model cites its proofs (${cited.length} test files)`)
for (const path of cited) {
  if (path.endsWith('/*.test.ts')) {
    const dir = new URL(`test/${path.slice(0, -'*.test.ts'.length)}`, root)
    t.ok(existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.test.ts')), `test/${path} matches test files`)
  } else {
    t.ok(existsSync(new URL(`test/${path}`, root)), `test/${path} exists`)
  }
}
