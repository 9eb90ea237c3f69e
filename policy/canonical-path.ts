/**
 * The one path canonicaliser: the path rules match is the path the origin receives, so `/repos/acme/../other`
 * and `/repos/acme/%2e%2e/other` cannot slip past `/repos/acme/**` (RFC 3986 §6.2.2 normalisation, §5.2.4 dot
 * segments). What two servers could read two ways (an encoded slash, a backslash, `..;`) is refused, not guessed.
 */

/** The canonical path (no query), or why the request target cannot be matched safely. */
export type CanonicalPath = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly problem: string }

// RFC 3986 §2.3: only these may be decoded without changing what the URI means.
const UNRESERVED = /[A-Za-z0-9\-._~]/
// Visible ASCII only: control characters, spaces and raw non-ASCII bytes have no single reading.
const VISIBLE = /^[\x21-\x7e]*$/

/** Canonicalises an origin-form request target: query dropped, unreserved escapes decoded, dot segments resolved. */
export function canonicalPath(target: string): CanonicalPath {
  const query = target.search(/[?#]/)
  const raw = query < 0 ? target : target.slice(0, query)
  if (!raw.startsWith('/')) return refuse('the request target is not an absolute path')
  if (!VISIBLE.test(raw)) return refuse('the path holds a control character, space or non-ASCII byte')
  if (raw.includes('\\')) return refuse("the path holds '\\', which some servers read as '/'")
  const decoded = decodeUnreserved(raw)
  if (!decoded.ok) return decoded
  return removeDotSegments(decoded.path)
}

/** Decodes `%XX` of unreserved characters, upper-cases the rest, refuses malformed and ambiguous escapes. */
function decodeUnreserved(raw: string): CanonicalPath {
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] ?? ''
    if (ch !== '%') {
      out += ch
      continue
    }
    const hex = raw.slice(i + 1, i + 3)
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return refuse(`'%${hex}' is not a valid percent-escape`)
    const decoded = String.fromCharCode(parseInt(hex, 16))
    // An encoded '/', '\' or NUL is one segment to us and a separator (or a terminator) to some servers.
    if (decoded === '/' || decoded === '\\' || decoded === '\0') return refuse(`the path holds %${hex.toUpperCase()}, which servers disagree on`)
    out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`
    i += 2
  }
  return { ok: true, path: out }
}

/** RFC 3986 §5.2.4 on an absolute path; a `..` above the root stays at the root, as browsers and servers do. */
function removeDotSegments(path: string): CanonicalPath {
  const input = path.split('/').slice(1)
  const output: string[] = []
  for (const [i, segment] of input.entries()) {
    const last = i === input.length - 1
    // Tomcat and others strip `;params` before resolving, so `..;x` climbs a level there: refuse it here.
    const bare = segment.split(';')[0]
    if (bare !== segment && (bare === '.' || bare === '..')) return refuse(`the segment '${segment}' is a dot segment to some servers`)
    if (segment === '.' || segment === '..') {
      if (segment === '..') output.pop()
      if (last) output.push('') // `/a/b/..` is `/a/`, keeping the trailing slash
      continue
    }
    output.push(segment)
  }
  return { ok: true, path: '/' + output.join('/') }
}

function refuse(problem: string): CanonicalPath {
  return { ok: false, problem }
}
