/**
 * A client connection from accept to its first read: counted among its listener's open sockets, watched by
 * its idle limit, and given the headers timeout to send something. A plain CONNECT head (read-connect-head.ts)
 * then goes to the tunnel handler, anything else (its bytes put back) to Node's HTTP parser.
 *
 * One object per connection, carried by its socket, and listeners shared by every connection that find it
 * from `this`. A closure or a `once` wrapper for each of these jobs (the first read, the idle limit, the
 * open-sockets entry) cost a CONNECT tunnel several per cent of its CPU (issue 2's CONNECT rate).
 */
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ProxyContext } from './context.js'
import { after, type Deadline } from './deadline.js'
import { idleLimit } from './idle-limit.js'
import type { Entry, OpenSockets } from './open-sockets.js'
import { readConnectHead, type ConnectHead } from './read-connect-head.js'

const CONNECTION = Symbol('guarded.connection')

interface ConnectionSocket extends Socket {
  [CONNECTION]?: ClientConnection
}

/** Where a listener sends its connections once their first read says what they are (create-proxy-server.ts). */
export interface Routes {
  readonly ctx: ProxyContext
  readonly sockets: OpenSockets
  /** A CONNECT head read here; `idle` goes with it, for the tunnel to mark active as bytes move. */
  connect(head: ConnectHead, socket: Socket, idle: Deadline): void
  /** Anything else, for Node's HTTP parser, which reads out of the proxy's sight: its own timer takes over `idle`. */
  http(socket: Socket, idle: Deadline): void
}

class ClientConnection implements Entry {
  prev: Entry | undefined = undefined
  next: Entry | undefined = undefined
  readonly idle: Deadline
  /** The wait for the first read. */
  readonly head: Deadline

  constructor(
    readonly socket: ConnectionSocket,
    readonly routes: Routes,
  ) {
    const { limits } = routes.ctx
    this.idle = idleLimit(socket, limits.idleTimeoutMs)
    this.head = after(limits.headersTimeoutMs, headTimedOut, this)
  }
}

/** Takes in a connection the listener admitted (it is not over the connection limit). */
export function acceptConnection(socket: Socket, routes: Routes): void {
  const connection = new ClientConnection(socket, routes)
  connection.socket[CONNECTION] = connection
  routes.sockets.add(connection)
  socket.on('close', onClose).on('data', onFirstRead).on('end', onEndBeforeRead)
}

function onFirstRead(this: ConnectionSocket, chunk: Buffer): void {
  const connection = this[CONNECTION]!
  stopWaiting(connection)
  this.pause() // nothing more is read until the handler or the parser asks for it
  const { routes, idle } = connection
  const head = readConnectHead(chunk, routes.ctx.limits.maxHeaderBytes)
  if (head) return routes.connect(head, this, idle)
  this.unshift(chunk)
  routes.http(this, idle)
  this.resume()
}

/** The client half-closed before sending anything: close our side too, as Node's parser does. */
function onEndBeforeRead(this: ConnectionSocket): void {
  stopWaiting(this[CONNECTION]!)
  this.end()
}

/** Nothing came within the headers timeout: the 408 Node's parser would have sent. */
function headTimedOut(connection: ClientConnection): void {
  stopWaiting(connection)
  requestTimeout(connection.socket)
}

function stopWaiting(connection: ClientConnection): void {
  connection.head.cancel()
  connection.socket.off('data', onFirstRead).off('end', onEndBeforeRead)
}

function onClose(this: ConnectionSocket): void {
  const connection = this[CONNECTION]!
  connection.head.cancel()
  connection.idle.cancel()
  connection.routes.sockets.remove(connection)
}

/** The answer to a client that did not finish its request head in time. */
export function requestTimeout(socket: Duplex): void {
  socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
}
