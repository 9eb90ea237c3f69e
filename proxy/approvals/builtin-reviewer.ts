/**
 * The shipped rule-based reviewer: something useful before a team plugs in a model. Pure: a host
 * (already normalised: lower case, Punycode, no trailing dot) and a port in, an answer out.
 */
import { isIP } from 'node:net'
import type { Risk } from '../../policy/approval-config.js'
import type { ReviewerAnswer } from './reviewer-answer.js'

/** One rule: the domains it covers (each also covers its subdomains), the risk, and why. */
interface HostRule {
  readonly domains: readonly string[]
  readonly risk: Risk
  readonly rationale: string
}

/**
 * First match wins, so the narrow exceptions come before the broad families they sit in
 * (gist.github.com publishes content; the rest of GitHub mostly serves it).
 */
const RULES: readonly HostRule[] = [
  {
    risk: 'critical',
    rationale: 'paste or file-sharing site: anyone can publish data there anonymously, the classic exfiltration channel',
    domains: ['pastebin.com', 'paste.ee', 'hastebin.com', 'ghostbin.com', 'dpaste.com', 'dpaste.org', 'rentry.co', 'privatebin.net', 'termbin.com', 'transfer.sh', 'file.io', '0x0.st', 'temp.sh', 'catbox.moe', 'gofile.io', 'wetransfer.com', 'we.tl', 'sendspace.com', 'mega.nz', 'anonfiles.com', 'bashupload.com', 'oshi.at', 'filebin.net'],
  },
  {
    risk: 'critical',
    rationale: 'tunnel or request-capture service: it hands data to whoever runs the endpoint, and hides who that is',
    domains: ['ngrok.io', 'ngrok.app', 'ngrok-free.app', 'ngrok.dev', 'trycloudflare.com', 'loca.lt', 'localtunnel.me', 'serveo.net', 'localhost.run', 'lhr.life', 'pinggy.io', 'webhook.site', 'requestbin.com', 'requestbin.net', 'pipedream.net', 'requestcatcher.com', 'beeceptor.com', 'hookbin.com', 'interact.sh', 'oast.fun', 'oast.pro', 'oast.live', 'oast.site', 'oast.online', 'oast.me', 'burpcollaborator.net', 'canarytokens.com', 'dnslog.cn'],
  },
  { risk: 'medium', rationale: 'gist host: code is fetched from it, but it also publishes whatever is sent to it', domains: ['gist.github.com', 'gist.githubusercontent.com'] },
  {
    risk: 'low',
    rationale: 'well-known package registry: the downloads a build needs, with published and usually checksummed artefacts',
    domains: ['registry.npmjs.org', 'registry.yarnpkg.com', 'pypi.org', 'files.pythonhosted.org', 'crates.io', 'static.crates.io', 'index.crates.io', 'proxy.golang.org', 'sum.golang.org', 'rubygems.org', 'repo1.maven.org', 'repo.maven.apache.org', 'plugins.gradle.org', 'services.gradle.org', 'api.nuget.org', 'repo.packagist.org', 'hex.pm', 'repo.hex.pm', 'pub.dev', 'deb.debian.org', 'security.debian.org', 'archive.ubuntu.com', 'security.ubuntu.com', 'dl-cdn.alpinelinux.org'],
  },
  {
    risk: 'low',
    rationale: 'well-known source host: cloning and fetching released sources',
    domains: ['github.com', 'codeload.github.com', 'objects.githubusercontent.com', 'raw.githubusercontent.com', 'gitlab.com', 'bitbucket.org', 'sourceware.org', 'git.kernel.org'],
  },
  {
    risk: 'medium',
    rationale: 'documentation site: read-mostly, but not needed to build, so a person may want to see it',
    domains: ['docs.python.org', 'developer.mozilla.org', 'nodejs.org', 'docs.rs', 'pkg.go.dev', 'readthedocs.io', 'readthedocs.org', 'stackoverflow.com', 'learn.microsoft.com', 'man7.org', 'typescriptlang.org', 'rust-lang.org'],
  },
]

const STANDARD_PORTS: ReadonlySet<number> = new Set([80, 443])
const RAISE: Readonly<Record<Risk, Risk>> = { low: 'medium', medium: 'high', high: 'high', critical: 'critical' }

/** Reviews a destination by rule; critical is denied, everything else is allowed subject to the policy's `approve` levels. */
export function builtinReviewer(host: string, port: number): ReviewerAnswer {
  const base = classifyHost(host)
  if (base.risk === 'critical') return { decision: 'deny', ...base }
  if (STANDARD_PORTS.has(port)) return { decision: 'allow', ...base }
  // A registry on port 8443 is not the registry's usual front door: someone set up something else there.
  return { decision: 'allow', risk: RAISE[base.risk], rationale: `${base.rationale}; port ${port} is not a standard web port, which raises the risk` }
}

function classifyHost(host: string): { risk: Risk; rationale: string } {
  if (isIP(host)) return { risk: 'high', rationale: 'raw IP address: no name to judge it by, and how command-and-control and exfiltration endpoints usually look' }
  const rule = RULES.find((r) => r.domains.some((d) => host === d || host.endsWith(`.${d}`)))
  if (rule) return { risk: rule.risk, rationale: rule.rationale }
  if (host.split('.').some((label) => label.startsWith('xn--'))) return { risk: 'high', rationale: 'internationalised name: it may imitate a well-known host with look-alike characters' }
  return { risk: 'medium', rationale: 'no rule knows this host: a person should decide unless the policy lets the reviewer approve medium risk' }
}
