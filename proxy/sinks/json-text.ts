/** JSON text for one value, for the sinks that write records field by field instead of through JSON.stringify. */

// Nothing JSON must escape: no quote, backslash or control character, and no lone surrogate (which
// JSON.stringify escapes and a UTF-8 encoder would replace). Nearly every value passes.
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/

/** A JSON string, byte for byte what JSON.stringify writes; the test is cheaper than its escaping pass. */
export function jsonString(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value)
}

/** A JSON number; like JSON.stringify, `null` for NaN and the infinities. */
export function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null'
}
