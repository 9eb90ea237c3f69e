/**
 * Where a top-level key is written in a source, for messages about a whole setting (a clamped
 * `default:`, an ignored `approval:`). Parses again rather than threading positions through every
 * reader: it runs only when there is something to report, on small files.
 */
import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml'
import type { PolicySource } from './read-source.js'
import type { SourceRef } from './types.js'

/** The place of `key` in `source`, or line 1 column 1 when it is not found as a top-level key. */
export function keyPlace(source: PolicySource, key: string): SourceRef {
  const lines = new LineCounter()
  const doc = parseDocument(source.text, { lineCounter: lines })
  const root = doc.contents
  const pair = isMap(root) ? root.items.find((p) => isScalar(p.key) && p.key.value === key) : undefined
  const at = (pair?.key as Node | undefined)?.range?.[0]
  return { file: source.file, ...(at === undefined ? { line: 1, col: 1 } : lines.linePos(at)) }
}

/** Whether `source` writes `key` at the top level at all (`allow_private: []` differs from no key). */
export function hasKey(source: PolicySource, key: string): boolean {
  const root = parseDocument(source.text).contents
  return isMap(root) && root.items.some((p) => isScalar(p.key) && p.key.value === key)
}

/** The YAML name of a content field: `allowPrivate` is written `allow_private`. */
export function yamlKey(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}
