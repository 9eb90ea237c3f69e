import type { CaInfo } from './ca-info.js'

/** The text `ca show` prints: identity, validity and how to make clients trust the CA. */
export function describeCa(info: CaInfo): string {
  const cert = info.paths.cert
  return [
    `CA certificate: ${cert}`,
    `Subject:        ${info.subject}`,
    `Valid:          ${info.notBefore.toISOString()} to ${info.notAfter.toISOString()}`,
    `SHA-256:        ${info.fingerprint}`,
    '',
    'Check the fingerprint against `openssl x509 -noout -fingerprint -sha256 -in ca.pem` before trusting it.',
    'To trust it:',
    `  Debian/Ubuntu:  sudo cp ${cert} /usr/local/share/ca-certificates/guarded.crt && sudo update-ca-certificates`,
    `  Fedora/RHEL:    sudo cp ${cert} /etc/pki/ca-trust/source/anchors/guarded.pem && sudo update-ca-trust`,
    `  Node.js:        NODE_EXTRA_CA_CERTS=${cert}   (adds to the built-in roots)`,
    '  OpenSSL tools:  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt after the system step',
    '                  (SSL_CERT_FILE replaces the default bundle, so point it at a bundle that contains this CA and the public roots)',
    '  Python:         REQUESTS_CA_BUNDLE / PIP_CERT to that same bundle (requests and pip ship their own roots)',
    `  curl / git:     --cacert ${cert} / GIT_SSL_CAINFO (both replace the default bundle too)`,
    '',
    'Anyone who can read ca-key.pem can impersonate any site to clients that trust this CA: keep it 0600.',
    '',
  ].join('\n')
}
