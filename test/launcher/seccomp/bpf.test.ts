import t from 'tap'
import { assemble, decode, encode, jeq, jge, jset, label, ldAbs, ret, type AsmItem } from '../../../launcher/seccomp/bpf.js'

t.test('encodes each instruction as u16 code, u8 jt, u8 jf, u32 k, little-endian', async (t) => {
  const bytes = encode(assemble([ldAbs(4), jeq(0xc000003e, 1, 0), jset(0x7e020000, 2, 3), jge(0x40000000, 0, 1), ret(0x7fff0000)]))
  t.equal(bytes.toString('hex'), [
    '2000' + '00' + '00' + '04000000', // BPF_LD|BPF_W|BPF_ABS, k = 4
    '1500' + '01' + '00' + '3e0000c0', // BPF_JMP|BPF_JEQ|BPF_K
    '4500' + '02' + '03' + '0000027e', // BPF_JMP|BPF_JSET|BPF_K
    '3500' + '00' + '01' + '00000040', // BPF_JMP|BPF_JGE|BPF_K
    '0600' + '00' + '00' + '0000ff7f', // BPF_RET|BPF_K, SECCOMP_RET_ALLOW
  ].join(''))
})

t.test('resolves labels to forward offsets counted from the next instruction', async (t) => {
  const program = assemble([
    jeq(1, 'one', 0), // pc 0 -> pc 3: offset 2
    jeq(2, 0, 'two'), // pc 1 -> pc 4: offset 2
    ret(0), // pc 2
    label('one'),
    ret(1), // pc 3
    label('two'),
    label('also-two'), // two labels may mark one place
    jeq(3, 'end', 0), // pc 4 -> pc 5: offset 0
    label('end'),
    ret(2), // pc 5
  ])
  t.same(program.map((i) => [i.jt, i.jf]), [[2, 0], [0, 2], [0, 0], [0, 0], [0, 0], [0, 0]])
})

t.test('refuses a backward jump, an unknown label and a duplicate label', async (t) => {
  t.throws(() => assemble([label('top'), ret(0), jeq(1, 'top', 0)]), /GUARDED_SECCOMP_JUMP_RANGE/)
  t.throws(() => assemble([jeq(1, 'nowhere', 0), ret(0)]), /undefined label 'nowhere'/)
  t.throws(() => assemble([label('x'), label('x'), ret(0)]), /defined twice/)
})

t.test('a jump of 255 resolves, 256 throws instead of wrapping', async (t) => {
  const span = (n: number): AsmItem[] => [jeq(1, 'far', 0), ...Array.from({ length: n }, () => ret(0)), label('far'), ret(1)]
  const ok = assemble(span(255))
  t.equal(ok[0]?.jt, 255)
  t.throws(() => assemble(span(256)), /GUARDED_SECCOMP_JUMP_RANGE: .*offset 256/)
})

t.test('refuses programs longer than BPF_MAXINSNS and constants outside u32', async (t) => {
  t.throws(() => assemble(Array.from({ length: 4097 }, () => ret(0))), /GUARDED_SECCOMP_TOO_LONG/)
  t.throws(() => assemble([ret(-1)]), RangeError)
  t.throws(() => assemble([ret(2 ** 32)]), RangeError)
})

t.test('decode inverts encode', async (t) => {
  const program = assemble([ldAbs(0), jeq(41, 0, 1), ret(0x50001), ret(0x7fff0000)])
  t.same(decode(encode(program)), program)
  t.throws(() => decode(Buffer.alloc(7)), /not a whole number/)
})
