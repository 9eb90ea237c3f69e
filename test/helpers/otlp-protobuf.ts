/**
 * Reads an OTLP/protobuf trace export into the shape of its OTLP/JSON twin, as the SDK's JSON
 * serializer writes it, so that tests can read either encoding alike and compare ours with the SDK's.
 * Written for the tests from opentelemetry-proto's trace.proto, independently of the encoder it checks.
 */

type Json = Record<string, unknown>

/** One field as it is on the wire: a number for varints and fixed32, the raw bytes otherwise. */
interface Field {
  readonly no: number
  readonly varint?: bigint
  readonly bytes?: Buffer
}

/** The export request, as `{ resourceSpans: [...] }`. */
export function decodeTraceRequest(body: Uint8Array): Json {
  return { resourceSpans: repeated(Buffer.from(body), 1, resourceSpans) }
}

function resourceSpans(buf: Buffer): Json {
  const resource = message(one(buf, 1))
  const out: Json = {
    resource: { attributes: repeated(resource, 1, keyValue), droppedAttributesCount: int(one(resource, 2)) ?? 0 },
    scopeSpans: repeated(buf, 2, scopeSpans),
  }
  return withString(out, 'schemaUrl', one(buf, 3))
}

function scopeSpans(buf: Buffer): Json {
  const scope = message(one(buf, 1))
  const out: Json = { scope: withString({ name: text(one(scope, 1)) ?? '' }, 'version', one(scope, 2)), spans: repeated(buf, 2, span) }
  return withString(out, 'schemaUrl', one(buf, 3))
}

function span(buf: Buffer): Json {
  const status = message(one(buf, 15))
  const out: Json = { traceId: hex(one(buf, 1)), spanId: hex(one(buf, 2)) }
  withString(out, 'traceState', one(buf, 3))
  if (one(buf, 4)) out.parentSpanId = hex(one(buf, 4))
  Object.assign(out, {
    name: text(one(buf, 5)) ?? '',
    kind: int(one(buf, 6)) ?? 0,
    startTimeUnixNano: fixed64(one(buf, 7)),
    endTimeUnixNano: fixed64(one(buf, 8)),
    attributes: repeated(buf, 9, keyValue),
    droppedAttributesCount: int(one(buf, 10)) ?? 0,
    events: repeated(buf, 11, () => ({})),
    droppedEventsCount: int(one(buf, 12)) ?? 0,
    status: withString({ code: int(one(status, 3)) ?? 0 }, 'message', one(status, 2)),
    links: repeated(buf, 13, () => ({})),
    droppedLinksCount: int(one(buf, 14)) ?? 0,
  })
  const flags = one(buf, 16)
  if (flags) out.flags = flags.bytes!.readUInt32LE(0)
  return out
}

// AnyValue: string_value 1, bool_value 2, int_value 3 (int64), double_value 4.
function keyValue(buf: Buffer): Json {
  const any = message(one(buf, 2))
  const value: Json = {}
  for (const field of parsed(any)) {
    if (field.no === 1) value.stringValue = field.bytes!.toString('utf8')
    else if (field.no === 2) value.boolValue = field.varint === 1n
    else if (field.no === 3) value.intValue = Number(BigInt.asIntN(64, field.varint!))
    else if (field.no === 4) value.doubleValue = field.bytes!.readDoubleLE(0)
  }
  return { key: text(one(buf, 1)) ?? '', value }
}

function repeated(buf: Buffer, no: number, read: (buf: Buffer) => Json): Json[] {
  return parsed(buf).filter((f) => f.no === no).map((f) => read(f.bytes!))
}

/** The last occurrence of a field, as protobuf reads a non-repeated one. */
function one(buf: Buffer, no: number): Field | undefined {
  return parsed(buf).filter((f) => f.no === no).at(-1)
}

// Each message is read once, however many of its fields are asked for.
const readFields = new WeakMap<Buffer, Field[]>()

function parsed(buf: Buffer): Field[] {
  let list = readFields.get(buf)
  if (!list) readFields.set(buf, (list = [...fields(buf)]))
  return list
}

function message(field: Field | undefined): Buffer {
  return field?.bytes ?? Buffer.alloc(0)
}

function text(field: Field | undefined): string | undefined {
  return field?.bytes?.toString('utf8')
}

function withString(out: Json, key: string, field: Field | undefined): Json {
  if (field?.bytes?.length) out[key] = field.bytes.toString('utf8')
  return out
}

function int(field: Field | undefined): number | undefined {
  return field?.varint === undefined ? undefined : Number(field.varint)
}

function hex(field: Field | undefined): string {
  return field?.bytes?.toString('hex') ?? ''
}

function fixed64(field: Field | undefined): string {
  return field?.bytes?.readBigUInt64LE(0).toString() ?? '0'
}

function* fields(buf: Buffer): Generator<Field> {
  let pos = 0
  const varint = (): bigint => {
    let value = 0n
    for (let shift = 0n; ; shift += 7n) {
      const byte = buf[pos++]
      if (byte === undefined) throw new Error('truncated varint')
      value |= BigInt(byte & 0x7f) << shift
      if (byte < 0x80) return value
    }
  }
  const take = (n: number): Buffer => {
    if (pos + n > buf.length) throw new Error(`field runs ${pos + n - buf.length} bytes past its message`)
    pos += n
    return buf.subarray(pos - n, pos)
  }
  while (pos < buf.length) {
    const key = Number(varint())
    const no = key >>> 3
    const wire = key & 7
    if (wire === 0) yield { no, varint: varint() }
    else if (wire === 1) yield { no, bytes: take(8) }
    else if (wire === 2) yield { no, bytes: take(Number(varint())) }
    else if (wire === 5) yield { no, bytes: take(4) }
    else throw new Error(`wire type ${wire} in field ${no}`)
  }
}
