/** The list behind open sockets and time limits: order, membership, and removal from anywhere, twice harmlessly. */
import t from 'tap'
import { LinkedList, type Linked } from '../../proxy/linked-list.js'

interface Node extends Linked<Node> {
  readonly name: string
}

const node = (name: string): Node => ({ name, prev: undefined, next: undefined })

function names(list: LinkedList<Node>): string[] {
  const out: string[] = []
  for (let n = list.first; n; n = n.next) out.push(n.name)
  return out
}

t.test('adds at the front, removes from the front, the middle and the end, and counts', async (t) => {
  const list = new LinkedList<Node>()
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(node) as [Node, Node, Node, Node]
  for (const n of [a, b, c, d]) list.add(n)
  t.same(names(list), ['d', 'c', 'b', 'a'])
  t.equal(list.size, 4)
  list.remove(b)
  t.same(names(list), ['d', 'c', 'a'], 'from the middle')
  list.remove(d)
  t.same(names(list), ['c', 'a'], 'the first')
  list.remove(a)
  t.same(names(list), ['c'], 'the last')
  t.equal(list.size, 1)
  t.equal(c.prev, undefined)
  t.equal(c.next, undefined)
})

t.test('membership: a node removed twice or added twice changes nothing the second time', async (t) => {
  const list = new LinkedList<Node>()
  const [a, b] = [node('a'), node('b')]
  list.add(a)
  list.add(b)
  list.add(b)
  t.equal(list.size, 2, 'adding a listed node again is a no-op')
  t.ok(list.has(a) && list.has(b))
  list.remove(a)
  list.remove(a)
  t.equal(list.size, 1, 'removing an unlisted node is a no-op')
  t.notOk(list.has(a))
  t.same(names(list), ['b'])
  list.remove(b)
  t.equal(list.first, undefined)
  t.equal(list.size, 0)
  t.notOk(list.has(node('stranger')))
})
