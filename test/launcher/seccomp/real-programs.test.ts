// Real programs under bwrap with the filter, asserting what a user would see.
// Each denial is paired with the same run without the filter, so the test
// fails if the rule is removed rather than passing on an already-hostile host.
import t from 'tap'
import { buildSeccompFilter } from '../../../launcher/seccomp/build-filter.js'
import { seccompArchFor } from '../../../launcher/seccomp/arch-spec.js'
import { runSandboxed, sandboxUnavailable } from './fixtures/run-sandboxed.js'

const unavailable = sandboxUnavailable()
const onX64 = process.arch === 'x64' ? false : 'x86_64-only syscall numbers and machine code'
const filter = unavailable === undefined ? buildSeccompFilter(seccompArchFor()) : Buffer.alloc(0)
const py = (code: string) => ['python3', '-c', code]

// A pty made our controlling terminal, then TIOCSTI pushes a byte into it:
// the kernel checks the caller owns the tty, so without a ctty it refuses by
// itself and the test would prove nothing.
const TIOCSTI_PY = `
import errno, fcntl, os, termios
try: os.setsid()
except OSError: pass
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
try:
    fcntl.ioctl(slave, termios.TIOCSTI, b'x'); print('injected')
except OSError as e: print(errno.errorcode[e.errno])
`

// Prints "before", makes the syscall, prints "after": a killed process never says "after".
const X32_GETPID_PY = `
import ctypes
libc = ctypes.CDLL(None)
print('before', flush=True)
libc.syscall(0x40000000 | 39)
print('after', flush=True)
`

// i386 getpid (20) through int 0x80 from 64-bit code: the kernel tags it AUDIT_ARCH_I386.
const INT80_GETPID_PY = `
import ctypes, mmap
code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax,20; int 0x80; ret
page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
print('before', flush=True)
print('after', fn(), flush=True)
`

const IO_URING_PY = `
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)  # struct io_uring_params, zeroed
fd = libc.syscall(425, 8, params)
print('fd' if fd >= 0 else errno.errorcode[ctypes.get_errno()])
`

const SOCKETS_PY = `
import socket
a, b = socket.socketpair(); a.send(b'x'); print('socketpair', b.recv(1).decode())
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(); print('inet ok')
try:
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); print('unix ok')
except PermissionError as e: print('unix PermissionError', e.strerror)
`

// What libuv does on start and in ordinary use: threads (clone), a worker,
// child processes with pipes (socketpair), epoll/eventfd, loopback TCP, fs.
const NODE_PROGRAM = `
const { execSync, spawnSync } = require('child_process')
const { Worker } = require('worker_threads')
const net = require('net')
execSync('true')
const echo = spawnSync('sh', ['-c', 'echo piped'], { encoding: 'utf8' }).stdout.trim()
new Worker('require("worker_threads").parentPort.postMessage(6 * 7)', { eval: true }).once('message', async (n) => {
  const text = await require('fs/promises').readFile('/proc/self/comm', 'utf8')
  const server = net.createServer((s) => s.end('tcp')).listen(0, '127.0.0.1', () => {
    net.connect(server.address().port, '127.0.0.1').once('data', (d) => {
      console.log(JSON.stringify({ echo, n, comm: text.trim(), tcp: String(d) }))
      server.close()
    })
  })
})
`

t.test('runs real programs under bwrap --seccomp 3', { skip: unavailable ?? false }, async (t) => {
  t.test('unshare -n fails with "Operation not permitted"', async (t) => {
    const r = runSandboxed(['unshare', '-n', 'true'], filter)
    t.not(r.status, 0)
    t.match(r.stderr, /unshare failed: Operation not permitted/)
    t.equal(runSandboxed(['unshare', '-n', 'true']).status, 0, 'without the filter it works')
  })

  t.test('socket(AF_UNIX) raises PermissionError; socketpair and AF_INET still work', async (t) => {
    const r = runSandboxed(py(SOCKETS_PY), filter)
    t.equal(r.stdout, 'socketpair x\ninet ok\nunix PermissionError Operation not permitted\n', r.stderr)
    t.match(runSandboxed(py(SOCKETS_PY)).stdout, /unix ok/, 'without the filter AF_UNIX works')
  })

  t.test('mount fails', async (t) => {
    const r = runSandboxed(['mount', '-t', 'tmpfs', 'none', '/mnt'], filter)
    t.not(r.status, 0)
    t.match(r.stderr, /permission denied|not permitted/i)
    t.equal(runSandboxed(['mount', '-t', 'tmpfs', 'none', '/mnt']).status, 0, 'without the filter root in the sandbox can mount')
  })

  t.test('io_uring_setup gets ENOSYS', { skip: onX64 }, async (t) => {
    t.equal(runSandboxed(py(IO_URING_PY), filter).stdout, 'ENOSYS\n')
    t.not(runSandboxed(py(IO_URING_PY)).stdout, 'ENOSYS\n', 'without the filter the kernel answers otherwise')
  })

  t.test('TIOCSTI on our own controlling terminal gets EPERM', async (t) => {
    const r = runSandboxed(py(TIOCSTI_PY), filter)
    t.equal(r.stdout, 'EPERM\n', r.stderr)
    t.not(runSandboxed(py(TIOCSTI_PY)).stdout, 'EPERM\n', 'without the filter the kernel does not say EPERM')
  })

  t.test('an x32 syscall kills the process with SIGSYS', { skip: onX64 }, async (t) => {
    const r = runSandboxed(py(X32_GETPID_PY), filter)
    t.equal(r.stdout, 'before\n')
    t.equal(r.status, 128 + 31, 'bwrap reports death by SIGSYS (31) as 128+31')
    t.equal(runSandboxed(py(X32_GETPID_PY)).stdout, 'before\nafter\n', 'without the filter it merely fails')
  })

  t.test('an i386 syscall (int 0x80) kills the process with SIGSYS', { skip: onX64 }, async (t) => {
    const r = runSandboxed(py(INT80_GETPID_PY), filter)
    t.equal(r.stdout, 'before\n')
    t.equal(r.status, 128 + 31)
    t.match(runSandboxed(py(INT80_GETPID_PY)).stdout, /^before\nafter \d+\n$/, 'without the filter it returns a pid')
  })

  t.test('node starts and runs: threads, a worker, child processes, pipes, TCP, fs', async (t) => {
    for (const io_uring of ['0', '1']) {
      const r = runSandboxed(['node', '-e', NODE_PROGRAM], filter, { UV_USE_IO_URING: io_uring })
      t.equal(r.status, 0, r.stderr)
      t.same(JSON.parse(r.stdout), { echo: 'piped', n: 42, comm: 'node', tcp: 'tcp' }, `UV_USE_IO_URING=${io_uring}`)
    }
  })

  t.test(`node -e "require('child_process').execSync('true')" works`, async (t) => {
    const r = runSandboxed(['node', '-e', "require('child_process').execSync('true')"], filter)
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stderr, '')
  })
})
