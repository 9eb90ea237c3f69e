/**
 * Reads the standard OTEL_* variables that decide where spans go and what they are called, from the
 * environment we are handed (never `process.env` directly), so `guarded-run` and tests can run
 * several proxies with different settings in one process.
 * Spec: https://opentelemetry.io/docs/specs/otel/protocol/exporter/ and .../configuration/sdk-environment-variables/
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import { readSpanSampler, type SpanSampler } from './span-sampling.js'

/** Where and how to export, plus the resource the spans are attributed to. */
export interface OtlpConfig {
  /** The full traces URL, ending in `/v1/traces` unless a per-signal variable said otherwise. */
  readonly url: string
  /** Extra request headers (`OTEL_EXPORTER_OTLP_HEADERS`, then `..._TRACES_HEADERS` over it). */
  readonly headers: Readonly<Record<string, string>>
  /** Per-export timeout, when the environment sets one. */
  readonly timeoutMillis?: number
  /** `OTEL_EXPORTER_OTLP_PROTOCOL`: how the spans are encoded. */
  readonly protocol: OtlpProtocol
  /** `OTEL_EXPORTER_OTLP_COMPRESSION`: `gzip`, or `none` (the default). */
  readonly compression: 'none' | 'gzip'
  /** PEM read from `OTEL_EXPORTER_OTLP_CERTIFICATE` (CAs to trust), `..._CLIENT_CERTIFICATE` and `..._CLIENT_KEY` (mutual TLS). */
  readonly tls: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer }
  /** Resource attributes, `service.name` always among them. */
  readonly resource: Readonly<Record<string, string>>
  /** `OTEL_TRACES_SAMPLER`: which records get a span; absent when every record does. */
  readonly sampler?: SpanSampler
}

/** The OTLP/HTTP encodings; gRPC is not installed. */
export type OtlpProtocol = 'http/protobuf' | 'http/json'

/** Inputs: the `--otlp-endpoint` flag, the environment, and the service name to use when the environment names none. */
export interface OtlpConfigInput {
  readonly endpoint?: string | undefined
  readonly env: NodeJS.ProcessEnv
  readonly serviceName?: string | undefined
}

const TRACES_PATH = 'v1/traces'
const DEFAULT_PROTOCOL: OtlpProtocol = 'http/protobuf'

/** Returns the export settings, or undefined when no endpoint is configured; throws `ConfigError` on an unusable one. */
export function readOtlpConfig({ endpoint, env, serviceName }: OtlpConfigInput): OtlpConfig | undefined {
  const url = tracesUrl(endpoint, env)
  if (url === undefined) return undefined
  const protocol = readProtocol(env)
  const timeoutMillis = readTimeout(env)
  const headers = { ...parseKeyValues(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseKeyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS) }
  const sampler = readSpanSampler(env)
  return { url, headers, protocol, ...(timeoutMillis !== undefined && { timeoutMillis }), compression: compression(env), tls: tlsFiles(env), resource: resourceAttributes(env, serviceName), ...(sampler && { sampler }) }
}

function readTimeout(env: NodeJS.ProcessEnv): number | undefined {
  const set = firstSet(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT')
  if (!set) return undefined
  const millis = Number(set.value)
  if (Number.isFinite(millis) && millis > 0) return millis
  throw new ConfigError(`${set.name} must be a positive number of milliseconds, not ${JSON.stringify(set.value)}`)
}

function compression(env: NodeJS.ProcessEnv): OtlpConfig['compression'] {
  const set = firstSet(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION', 'OTEL_EXPORTER_OTLP_COMPRESSION')
  if (!set) return 'none'
  const value = set.value.trim().toLowerCase()
  if (value === 'none' || value === 'gzip') return value
  throw new ConfigError(`${set.name} must be gzip or none, not ${JSON.stringify(value)}`)
}

/** The TLS files, read once here so that a missing one stops the proxy at start rather than every export. */
function tlsFiles(env: NodeJS.ProcessEnv): OtlpConfig['tls'] {
  const read = (suffix: string): Buffer | undefined => {
    const name = env[`OTEL_EXPORTER_OTLP_TRACES_${suffix}`] ? `OTEL_EXPORTER_OTLP_TRACES_${suffix}` : `OTEL_EXPORTER_OTLP_${suffix}`
    const file = env[name]?.trim()
    if (!file) return undefined
    try {
      return readFileSync(resolve(file))
    } catch (err) {
      throw new ConfigError(`${name}: cannot read ${file}: ${(err as Error).message}`)
    }
  }
  const ca = read('CERTIFICATE')
  const cert = read('CLIENT_CERTIFICATE')
  const key = read('CLIENT_KEY')
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError('OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY go together: set both or neither')
  return { ...(ca && { ca }), ...(cert && { cert }), ...(key && { key }) }
}

/** The flag wins over the environment; a generic endpoint gets `/v1/traces` appended, as the spec says. */
function tracesUrl(endpoint: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (endpoint) return checkedUrl(endpoint.replace(/\/v1\/traces\/?$/, ''), '--otlp-endpoint', true)
  if (!env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT && !env.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined
  // OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none turn off env-configured export only: an explicit
  // flag is a stronger wish. Neither is read without an endpoint, so a proxy that exports nothing
  // never stops on them.
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || !exportsOtlp(env)) return undefined
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return checkedUrl(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', false)
  return checkedUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT!, 'OTEL_EXPORTER_OTLP_ENDPOINT', true)
}

/** `OTEL_TRACES_EXPORTER`, a comma-separated list: `otlp` (the default) exports, `none` alone does not; the others are not installed. */
function exportsOtlp(env: NodeJS.ProcessEnv): boolean {
  const names = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim().toLowerCase()).filter(Boolean)
  const unknown = names.filter((name) => name !== 'otlp' && name !== 'none')
  if (unknown.length > 0) {
    throw new ConfigError(`OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: guarded exports spans over OTLP only; set otlp, or none for no spans (${unknown.join(', ')} is not supported)`)
  }
  return names.length === 0 || names.includes('otlp')
}

function checkedUrl(value: string, source: string, appendPath: boolean): string {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw new ConfigError(`${source} must be an http:// or https:// URL such as http://127.0.0.1:4318, not ${JSON.stringify(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${source} must be an http:// or https:// URL (OTLP over HTTP), not ${JSON.stringify(value)}`)
  }
  if (appendPath) url.pathname = url.pathname.replace(/\/?$/, '/') + TRACES_PATH
  return url.href
}

/** `http/protobuf` unless told otherwise, as the exporter spec asks; anything else is refused, naming the variable and the fix. */
function readProtocol(env: NodeJS.ProcessEnv): OtlpProtocol {
  const set = firstSet(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL')
  if (!set) return DEFAULT_PROTOCOL
  const protocol = set.value.trim().toLowerCase() // the spec's enum values ignore case
  if (protocol === 'http/protobuf' || protocol === 'http/json') return protocol
  if (protocol === 'grpc') {
    throw new ConfigError(`${set.name}=grpc is not supported: guarded exports spans over OTLP/HTTP; point it at the collector's HTTP port (4318) and set http/protobuf or http/json`)
  }
  throw new ConfigError(`${set.name} must be http/protobuf or http/json, not ${JSON.stringify(protocol)}`)
}

/** OTEL_SERVICE_NAME beats `service.name` in OTEL_RESOURCE_ATTRIBUTES, which beats our default. */
function resourceAttributes(env: NodeJS.ProcessEnv, serviceName: string | undefined): Record<string, string> {
  const attributes = parseKeyValues(env.OTEL_RESOURCE_ATTRIBUTES)
  const name = env.OTEL_SERVICE_NAME?.trim() || attributes['service.name'] || serviceName || 'guarded-proxy'
  return { ...attributes, 'service.name': name }
}

/** `k1=v1,k2=v2` with percent-encoded values (the W3C Baggage shape the OTel spec uses); bad pairs are skipped. */
export function parseKeyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=')
    if (at <= 0) continue
    const key = pair.slice(0, at).trim()
    const value = decode(pair.slice(at + 1).trim())
    if (key && value !== undefined) out[key] = value
  }
  return out
}

function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value)
  } catch {
    return undefined
  }
}

/** The first of `names` set to something, and which it was, so a refusal names the variable the user set. */
function firstSet(env: NodeJS.ProcessEnv, ...names: string[]): { readonly name: string; readonly value: string } | undefined {
  for (const name of names) {
    const value = env[name]
    if (value) return { name, value }
  }
  return undefined
}
