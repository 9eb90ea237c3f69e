import t from 'tap'
import { approvalsPolicyText, APPROVALS } from '../../bench/measure-approvals.js'
import { decide } from '../../policy/decide.js'
import { loadPolicy } from '../../policy/load.js'

t.test('the approvals policy asks about every unknown name and lets all the parked requests wait', async t => {
  const policy = loadPolicy([{ file: 'approvals.yaml', text: approvalsPolicyText() }])
  t.equal(decide(policy, { host: 'p1.park.bench.test', port: 443, kind: 'name' }).action, 'ask')
  t.same(policy.allowPrivate.map(c => c.text), ['127.0.0.0/8'], 'the settled requests may reach the loopback origin')
  t.match(policy.approval, { approvers: ['api'], maxPendingPerSession: 2 * APPROVALS.parked, maxPendingTotal: 2 * APPROVALS.parked },
    'the defaults (128 and 512) would refuse most of the 1,000 parked CONNECTs')
})
