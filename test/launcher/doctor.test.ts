import t from 'tap'
import { blockers, evaluateChecks, formatChecks, gatherFacts, parseBwrapVersion, type DoctorFacts } from '../../launcher/doctor.js'

const good: DoctorFacts = {
  platform: 'linux', bwrapVersion: 'bubblewrap 0.8.0', maxUserNamespaces: '63000', unprivilegedUsernsClone: null,
  apparmorRestrict: null, nestedSandbox: { ok: true, error: '' },
}

t.test('each way enforcement can be impossible is a failing check with a fix', async (t) => {
  const rows: [Partial<DoctorFacts>, string, RegExp][] = [
    [{ platform: 'darwin' }, 'platform', /macOS/],
    [{ bwrapVersion: null, nestedSandbox: null }, 'bwrap', /apt-get install bubblewrap/],
    [{ bwrapVersion: 'bubblewrap 0.6.2' }, 'bwrap-version', /0\.8\.0/],
    [{ maxUserNamespaces: '0' }, 'userns', /max_user_namespaces/],
    [{ unprivilegedUsernsClone: '0' }, 'userns', /unprivileged_userns_clone=1/],
    [{ apparmorRestrict: '1', nestedSandbox: { ok: false, error: 'setting up uid map: Permission denied' } }, 'apparmor', /apparmor_restrict_unprivileged_userns=0/],
    [{ nestedSandbox: { ok: false, error: 'boom' } }, 'nested-sandbox', /host/],
  ]
  for (const [facts, id, fix] of rows) {
    const failing = blockers(evaluateChecks({ ...good, ...facts }))
    t.ok(failing.some((c) => c.id === id && fix.test(c.fix ?? '')), `${id}: ${JSON.stringify(facts)}`)
  }
  t.same(blockers(evaluateChecks(good)), [], 'a capable machine has no blockers')
  t.same(blockers(evaluateChecks({ ...good, apparmorRestrict: '1' })), [], 'AppArmor restriction with a bwrap profile that works is fine')
})

t.test('version parsing and the printer', async (t) => {
  t.same(parseBwrapVersion('bubblewrap 0.11.0'), [0, 11, 0])
  t.same(parseBwrapVersion('bubblewrap 0.8'), [0, 8, 0])
  t.equal(parseBwrapVersion('nope'), null)
  const text = formatChecks(evaluateChecks({ ...good, bwrapVersion: 'bubblewrap 0.6.2' }))
  t.match(text, /^FAIL bwrap-version: .*\n {5}fix: upgrade/m)
  t.match(text, /^ok {3}bwrap: bubblewrap 0\.6\.2/m)
})

t.test('this machine, for real', { skip: process.platform !== 'linux' }, async (t) => {
  const checks = evaluateChecks(await gatherFacts())
  t.ok(checks.length >= 4)
  t.same(blockers(checks), [], formatChecks(checks))
})
