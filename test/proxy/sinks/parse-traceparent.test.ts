/** W3C traceparent parsing, row by row with the reason each row expects. */
import t from 'tap'
import { parseTraceparent } from '../../../proxy/sinks/parse-traceparent.js'

const TID = '4bf92f3577b34da6a3ce929d0e0e4736'
const SID = '00f067aa0ba902b7'
const rows: [why: string, header: string | undefined, expect: { traceId: string; spanId: string; traceFlags: number } | undefined][] = [
  ['sampled, version 00', `00-${TID}-${SID}-01`, { traceId: TID, spanId: SID, traceFlags: 1 }],
  ['unsampled is still a parent', `00-${TID}-${SID}-00`, { traceId: TID, spanId: SID, traceFlags: 0 }],
  ['a future version may append fields', `cc-${TID}-${SID}-01-what-the-future-holds`, { traceId: TID, spanId: SID, traceFlags: 1 }],
  ['version 00 may not append fields', `00-${TID}-${SID}-01-extra`, undefined],
  ['version ff is forbidden', `ff-${TID}-${SID}-01`, undefined],
  ['all-zero trace id is invalid', `00-${'0'.repeat(32)}-${SID}-01`, undefined],
  ['all-zero parent id is invalid', `00-${TID}-${'0'.repeat(16)}-01`, undefined],
  ['upper-case hex is invalid', `00-${TID.toUpperCase()}-${SID}-01`, undefined],
  ['a short trace id', `00-${TID.slice(1)}-${SID}-01`, undefined],
  ['absent', undefined, undefined],
  ['empty', '', undefined],
]
for (const [why, header, expect] of rows) {
  t.test(why, async (t) => {
    const got = parseTraceparent(header)
    if (expect) t.same(got, { ...expect, isRemote: true })
    else t.equal(got, undefined)
  })
}
