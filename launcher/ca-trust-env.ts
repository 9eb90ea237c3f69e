/**
 * Makes the sandboxed agent trust the inspection CA: one bundle (the system roots plus ours) and the variables
 * each client stack reads. Building the environment is pure; writing the bundle is a thin shell around it.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Where Debian, Ubuntu and Alpine keep the system roots; Fedora's `/etc/pki/tls/certs/ca-bundle.crt` is passed explicitly. */
export const SYSTEM_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

/** The bundle's file name inside the run directory. */
export const BUNDLE_NAME = 'guarded-ca-bundle.pem'

/**
 * The variables that point each stack at the combined bundle. Most of them replace the default roots rather than
 * add to them (OpenSSL, curl, git, requests, pip, AWS, cargo), which is why the bundle holds the system roots too;
 * NODE_EXTRA_CA_CERTS adds to Node's built-in roots.
 */
export function caTrustEnv(bundlePath: string): Readonly<Record<string, string>> {
  return Object.freeze({
    NODE_EXTRA_CA_CERTS: bundlePath,
    SSL_CERT_FILE: bundlePath,
    REQUESTS_CA_BUNDLE: bundlePath,
    CURL_CA_BUNDLE: bundlePath,
    GIT_SSL_CAINFO: bundlePath,
    PIP_CERT: bundlePath,
    AWS_CA_BUNDLE: bundlePath,
    CARGO_HTTP_CAINFO: bundlePath,
  })
}

/** The combined bundle's text: the system roots (when any), then our CA, each ending in a newline. */
export function combineBundle(systemPem: string, caPem: string): string {
  const withNewline = (pem: string): string => (pem === '' || pem.endsWith('\n') ? pem : `${pem}\n`)
  return withNewline(systemPem) + withNewline(caPem)
}

/** Writes `runDir/guarded-ca-bundle.pem` (0644: it holds only public certificates) and returns its path. */
export async function writeCaBundle(runDir: string, caPem: string, systemBundle: string = SYSTEM_BUNDLE): Promise<string> {
  // A system without a bundle still gets ours: the agent then reaches inspected hosts, and nothing else over TLS.
  const system = await readFile(systemBundle, 'utf8').catch(() => '')
  const path = join(runDir, BUNDLE_NAME)
  await writeFile(path, combineBundle(system, caPem), { mode: 0o644 })
  return path
}
