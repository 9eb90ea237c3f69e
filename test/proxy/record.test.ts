/** A record reaches the sinks as one decision and one close, the close carrying its decision. */
import t from 'tap'
import { createEventBus, type DecisionEvent, type ProxyEvent } from '../../proxy/events.js'
import { emitClose, emitDecision, openRecord } from '../../proxy/record.js'

function listen(): { bus: ReturnType<typeof createEventBus>; heard: [ProxyEvent, DecisionEvent | undefined][] } {
  const bus = createEventBus((err) => {
    throw err
  })
  const heard: [ProxyEvent, DecisionEvent | undefined][] = []
  bus.subscribe((event, decision) => void heard.push([event, decision]))
  return { bus, heard }
}

t.test('the close carries the decision emitted for the same record', async (t) => {
  const { bus, heard } = listen()
  const record = openRecord('connect', '127.0.0.1', 'default')
  const decision = emitDecision(bus, record, 'allow', 'allowed')
  emitClose(bus, record)
  t.equal(heard.length, 2)
  t.equal(heard[0]![0], decision, 'the decision first')
  t.equal(heard[0]![1], undefined, 'a decision carries nothing')
  t.equal(heard[1]![0].type, 'close')
  t.equal(heard[1]![0]['record.id'], record.id)
  t.equal(heard[1]![1], decision, 'the close carries that very decision')
})

t.test('a second decision or close for a record emits nothing', async (t) => {
  const { bus, heard } = listen()
  const record = openRecord('http', '127.0.0.1', 'default')
  emitDecision(bus, record, 'deny', 'blocked')
  t.equal(emitDecision(bus, record, 'allow', 'allowed'), undefined)
  emitClose(bus, record)
  emitClose(bus, record)
  t.same(heard.map(([e]) => e.type), ['decision', 'close'], 'one of each')
  t.equal((heard[0]![0] as DecisionEvent)['guarded.verdict'], 'deny', 'the first decision stands')
})

t.test('a close without a decision comes alone', async (t) => {
  const { bus, heard } = listen()
  emitClose(bus, openRecord('connect', '127.0.0.1', 'default'))
  t.equal(heard.length, 1)
  t.equal(heard[0]![1], undefined)
})
