import { readFileSync, readdirSync } from 'node:fs'
import { Ajv } from 'ajv'
import t from 'tap'
import { parse } from 'yaml'
import { loadPolicy } from '../../policy/load.js'
import { PolicyError } from '../../policy/policy-error.js'

const read = (url: URL) => readFileSync(url, 'utf8')
const policySchema = JSON.parse(read(new URL('../../policy/schema.json', import.meta.url))) as { properties: Record<string, unknown> }
const requirementsSchema = JSON.parse(read(new URL('../../policy/requirements.schema.json', import.meta.url))) as { properties: Record<string, unknown> }
const ajv = new Ajv({ allErrors: true, strict: false })
const validatePolicy = ajv.compile(policySchema)
const validateRequirements = ajv.compile(requirementsSchema)
const fixtures = new URL('../fixtures/policies/', import.meta.url)
const fixture = (name: string) => read(new URL(name, fixtures))

t.test('the schema accepts the bundled default policy, which names it for editors', async (t) => {
  const text = read(new URL('../../policy/default.yaml', import.meta.url))
  t.match(text, /^# yaml-language-server: \$schema=\.\/schema\.json/)
  t.ok(validatePolicy(parse(text)), JSON.stringify(validatePolicy.errors))
})

t.test('the schema accepts every fixture the loader accepts', async (t) => {
  for (const name of readdirSync(fixtures).filter((n) => n.startsWith('good-'))) {
    t.doesNotThrow(() => loadPolicy([{ file: name, text: fixture(name) }]), `${name} loads`)
    t.ok(validatePolicy(parse(fixture(name))), `${name}: ${JSON.stringify(validatePolicy.errors)}`)
  }
})

// Each row: a fixture the loader rejects for a reason a schema can see, and that reason.
const rejected: readonly [string, string][] = [
  ['bad-version.yaml', 'version must be the constant 1'],
  ['bad-version-missing.yaml', 'version is required'],
  ['bad-unknown-key.yaml', "'alow' is not a key (additionalProperties: false) and mode has two values"],
  ['bad-bare-star.yaml', "a bare '*' is excluded by the pattern definition"],
]
t.test('the schema rejects the bad fixtures the loader rejects for schema reasons', async (t) => {
  for (const [name, why] of rejected) {
    t.throws(() => loadPolicy([{ file: name, text: fixture(name) }]), PolicyError, `the loader rejects ${name}`)
    t.notOk(validatePolicy(parse(fixture(name))), `the schema rejects ${name}: ${why}`)
  }
  t.notOk(validatePolicy({ version: 1, default: 'allow' }), "default is ask or deny")
  t.notOk(validatePolicy({ version: 1, allow: 'github.com' }), 'allow is a list')
  t.notOk(validatePolicy({ version: 1, approval: { timeout: '60' } }), 'a duration has a unit, as the loader requires')
})

t.test('the schemas name exactly the keys the loader knows', async (t) => {
  // The loader lists its known keys when one is far from any of them: the schemas must agree,
  // so a key added to the loader without the schema (or the reverse) fails here.
  const err = t.throws(() => loadPolicy([{ file: 'k.yaml', text: 'version: 1\nzzzzzzzzzz: 1\n' }])) as unknown as PolicyError
  const known = /known keys are (.*)$/.exec(err.problems[0]?.fix ?? '')?.[1]?.split(', ').sort()
  t.same(known, [...new Set([...Object.keys(policySchema.properties), ...Object.keys(requirementsSchema.properties)])].sort())
})

t.test('the requirements schema accepts a full requirements file the loader accepts', async (t) => {
  const text = 'version: 1\nblock: ["*.pastebin.com"]\nallow: [github.com]\nallowed_domains_only: true\ndefault: deny\napproval:\n  timeout: 2m\n  max_pending: 16\nallow_private: [10.0.0.0/8]\nforbid: [no-sandbox, audit-mode]\n'
  t.doesNotThrow(() => loadPolicy([{ file: 'r.yaml', text, layer: 'requirements' }]))
  t.ok(validateRequirements(parse(text)), JSON.stringify(validateRequirements.errors))
  t.notOk(validateRequirements(parse('version: 1\nmode: audit\n')), 'mode is not a requirement, as the loader says')
})
