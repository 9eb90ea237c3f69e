/**
 * The middle of a decision record's text, from `record.kind` to the approval's scope, is the same for
 * a session's requests to one destination, and most requests repeat one that came shortly before (a
 * package install fetches hundreds of files from one registry). Written key by key, that middle was
 * most of the pieces V8 had to join and flatten for every record, the largest part of the sinks' cost
 * (issue 4). Each encoder keeps the text it wrote for the latest record per destination and reuses it
 * while every field in it is unchanged; record.ts sets these keys before the ones that vary by request.
 */
import type { DecisionEvent } from '../events.js'

// Destinations remembered before the table starts over: a bound on memory, never on correctness. The
// audit log's text holds the prompt (up to 64 KiB), so the table holds at most about 4 MiB.
const MAX_DESTINATIONS = 64

/** One encoder's text (JSON) or bytes (protobuf) for the shared middle of its records, by destination. */
export class SharedFragments<Fragment = string> {
  readonly #latest = new Map<string | undefined, { readonly event: DecisionEvent; readonly fragment: Fragment }>()

  constructor(private readonly write: (event: DecisionEvent) => Fragment) {}

  /** What `write` gives for `event`, reused from an earlier record whose shared fields are equal. */
  of(event: DecisionEvent): Fragment {
    const destination = event['server.address']
    const latest = this.#latest.get(destination)
    if (latest !== undefined && sameShared(latest.event, event)) return latest.fragment
    const fragment = this.write(event)
    if (this.#latest.size >= MAX_DESTINATIONS) this.#latest.clear()
    this.#latest.set(destination, { event, fragment })
    return fragment
  }
}

/**
 * The keys of the shared middle that spans carry, in the order the encoders write them (the audit log
 * writes the prompt text there too). A key added to the middle goes here: the writers' tests change
 * each key in turn after a record that had it, and fail until it is.
 */
export const SHARED_KEYS = [
  'record.kind', 'session.id', 'client.address', 'guarded.verdict', 'guarded.reason', 'guarded.prompt.id', 'guarded.prompt.source',
  'server.address', 'server.port', 'network.peer.address', 'http.request.method', 'guarded.classification', 'guarded.would_verdict',
  'guarded.rule', 'guarded.approval.by', 'guarded.approval.scope',
] as const satisfies readonly (keyof DecisionEvent)[]

/**
 * True when the two records agree on every key of the shared middle, the prompt text too. Written out
 * rather than looped over SHARED_KEYS: it runs for every record, and a loop's keyed reads cost more.
 */
function sameShared(a: DecisionEvent, b: DecisionEvent): boolean {
  return a['record.kind'] === b['record.kind'] && a['session.id'] === b['session.id'] && a['client.address'] === b['client.address']
    && a['guarded.verdict'] === b['guarded.verdict'] && a['guarded.reason'] === b['guarded.reason']
    && a['guarded.prompt.id'] === b['guarded.prompt.id'] && a['guarded.prompt.source'] === b['guarded.prompt.source'] && a['guarded.prompt.text'] === b['guarded.prompt.text']
    && a['server.address'] === b['server.address'] && a['server.port'] === b['server.port'] && a['network.peer.address'] === b['network.peer.address']
    && a['http.request.method'] === b['http.request.method'] && a['guarded.classification'] === b['guarded.classification']
    && a['guarded.would_verdict'] === b['guarded.would_verdict'] && a['guarded.rule'] === b['guarded.rule']
    && a['guarded.approval.by'] === b['guarded.approval.by'] && a['guarded.approval.scope'] === b['guarded.approval.scope']
}

/**
 * Text joined with `+` is a tree of its pieces until something reads it whole, and every line that
 * reused the tree would walk it again: a JSON writer hands its middle through this before it is kept.
 * A copy through UTF-8 is one flat run; it changes nothing, because JSON text from json-text.ts never
 * holds a lone surrogate (those are written escaped).
 */
export function flattened(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8')
}
