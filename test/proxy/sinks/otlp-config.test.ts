/** The OTEL_* reading for the span sink, as a table: each row is an environment and what it must produce. */
import { writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../../proxy/errors.js'
import { parseKeyValues, readOtlpConfig, type OtlpConfigInput } from '../../../proxy/sinks/otlp-config.js'
import { tempDir } from '../../helpers/temp-dir.js'

const urls: [why: string, input: OtlpConfigInput, url: string | undefined][] = [
  ['nothing set: spans are off', { env: {} }, undefined],
  ['generic endpoint gets the signal path', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' } }, 'http://collector:4318/v1/traces'],
  ['generic endpoint keeps its own path prefix', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://otel.example/ingest/' } }, 'https://otel.example/ingest/v1/traces'],
  ['the per-signal endpoint is used as given', { env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://other:4318' } }, 'http://c:4318/custom'],
  ['the flag beats both variables', { endpoint: 'http://flag:4318', env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/x' } }, 'http://flag:4318/v1/traces'],
  ['the flag may already name /v1/traces', { endpoint: 'http://flag:4318/v1/traces', env: {} }, 'http://flag:4318/v1/traces'],
  ['OTEL_SDK_DISABLED turns off an env endpoint', { env: { OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' } }, undefined],
  ['but not an explicit flag', { endpoint: 'http://flag:4318', env: { OTEL_SDK_DISABLED: 'true' } }, 'http://flag:4318/v1/traces'],
  ['an empty variable is unset', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: '' } }, undefined],
  ['OTEL_TRACES_EXPORTER=none turns off an env endpoint', { env: { OTEL_TRACES_EXPORTER: ' None ', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/x' } }, undefined],
  ['but not an explicit flag either', { endpoint: 'http://flag:4318', env: { OTEL_TRACES_EXPORTER: 'none' } }, 'http://flag:4318/v1/traces'],
  ['OTEL_TRACES_EXPORTER=otlp is the default said aloud', { env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' } }, 'http://c:4318/v1/traces'],
  ['a list with otlp in it exports', { env: { OTEL_TRACES_EXPORTER: 'none, otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' } }, 'http://c:4318/v1/traces'],
  ['an exporter we do not have, with no endpoint, is never read', { env: { OTEL_TRACES_EXPORTER: 'zipkin' } }, undefined],
]
for (const [why, input, url] of urls) {
  t.test(why, async (t) => t.equal(readOtlpConfig(input)?.url, url))
}

const E = 'http://c:4318'
const resources: [why: string, env: NodeJS.ProcessEnv, serviceName: string | undefined, resource: Record<string, string>][] = [
  ['our default name', {}, undefined, { 'service.name': 'guarded-proxy' }],
  ['the caller\'s name', {}, 'guarded-sidecar', { 'service.name': 'guarded-sidecar' }],
  ['resource attributes name it over the caller', { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,deployment.environment=prod%20eu' }, 'x', { 'service.name': 'from-attrs', 'deployment.environment': 'prod eu' }],
  ['OTEL_SERVICE_NAME beats everything', { OTEL_SERVICE_NAME: 'svc', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }, 'x', { 'service.name': 'svc' }],
]
for (const [why, env, serviceName, resource] of resources) {
  t.test(`service name: ${why}`, async (t) => t.same(readOtlpConfig({ env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: E }, serviceName })?.resource, resource))
}

t.test('headers: generic then per-signal, percent-decoded; timeout from the per-signal variable first', async (t) => {
  const config = readOtlpConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=two%3Dparts', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'a=override', OTEL_EXPORTER_OTLP_TIMEOUT: '5000', OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2500' } })
  t.same(config?.headers, { a: 'override', b: 'two=parts' })
  t.equal(config?.timeoutMillis, 2500)
  t.notOk('timeoutMillis' in readOtlpConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: E } })!, 'no timeout: the exporter\'s default')
})

t.test('compression and TLS files: the per-signal variable first; files read once, at start', async (t) => {
  const dir = await tempDir(t, 'guarded-otlp-')
  const [generic, traces, cert, key] = ['generic.pem', 'traces.pem', 'cert.pem', 'key.pem'].map((name) => join(dir, name))
  for (const file of [generic, traces, cert, key]) await writeFile(file!, `contents of ${basename(file!)}`)
  const config = readOtlpConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_COMPRESSION: 'none', OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: ' GZIP ',
    OTEL_EXPORTER_OTLP_CERTIFICATE: generic, OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: traces, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: cert, OTEL_EXPORTER_OTLP_CLIENT_KEY: key } })
  t.equal(config?.compression, 'gzip')
  t.same(Object.fromEntries(Object.entries(config?.tls ?? {}).map(([k, v]) => [k, v.toString()])), { ca: 'contents of traces.pem', cert: 'contents of cert.pem', key: 'contents of key.pem' })
  const plain = readOtlpConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: E } })
  t.equal(plain?.compression, 'none', 'uncompressed unless asked')
  t.same(plain?.tls, {}, 'the public CAs unless told otherwise')
})

t.test('key=value lists skip what they cannot read', async (t) => {
  t.same(parseKeyValues(' a = 1 ,=x,novalue,b=%E0%A4%A,c='), { a: '1', c: '' })
  t.same(parseKeyValues(undefined), {})
})

const bad: [why: string, input: OtlpConfigInput, message: RegExp][] = [
  ['not a URL', { endpoint: 'collector:4318:x', env: {} }, /--otlp-endpoint must be an http/],
  ['a gRPC-only scheme', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://c:4317' } }, /OTEL_EXPORTER_OTLP_ENDPOINT must be an http/],
  ['an exporter it does not have', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_TRACES_EXPORTER: 'otlp,console' } }, /^OTEL_TRACES_EXPORTER=otlp,console: guarded exports spans over OTLP only; set otlp, or none for no spans \(console is not supported\)/],
  ['the gRPC protocol', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } }, /^OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported: .*set http\/protobuf or http\/json/],
  ['a protocol that does not exist', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml' } }, /^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL must be http\/protobuf or http\/json, not "http\/xml"/],
  ['a timeout that is not a number', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_TIMEOUT: '10s' } }, /positive number of milliseconds/],
  ['a per-signal timeout that is not a number, named as set', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '-1' } }, /^OTEL_EXPORTER_OTLP_TRACES_TIMEOUT must be a positive number of milliseconds, not "-1"/],
  ['a per-signal compression it cannot do, named as set', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'br' } }, /^OTEL_EXPORTER_OTLP_TRACES_COMPRESSION must be gzip or none, not "br"/],
  ['a compression it cannot do', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' } }, /must be gzip or none, not "zstd"/],
  ['a CA file it cannot read', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: '/nonexistent/ca.pem' } }, /OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: cannot read \/nonexistent\/ca.pem: ENOENT/],
  ['a client certificate without its key', { env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: process.execPath } }, /set both or neither/],
]
for (const [why, input, message] of bad) {
  t.test(`refuses to start on ${why}`, async (t) => t.throws(() => readOtlpConfig(input), { name: 'ConfigError', message }))
}

t.test('the encoding: http/protobuf unless told otherwise, as the exporter spec says; the traces variable wins', async (t) => {
  const protocol = (env: NodeJS.ProcessEnv): string | undefined => readOtlpConfig({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: E, ...env } })?.protocol
  t.equal(protocol({}), 'http/protobuf')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 'http/json')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: ' http/protobuf ' }), 'http/protobuf', 'spaces around it are ignored')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'HTTP/JSON' }), 'http/json', 'and case, as the spec asks of enum values')
  t.equal(protocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }), 'http/json')
  t.ok(new ConfigError('x') instanceof Error)
})
