/** Durations as people write them in policy files and flags: `500ms`, `60s`, `2m`, `8h`. */

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
const DURATION = /^([1-9][0-9]{0,8})(ms|s|m|h)$/

/** Milliseconds for a duration string, or undefined when it is not one (no bare numbers: units are explicit). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim())
  if (!match) return undefined
  return Number(match[1]) * (UNITS[match[2] ?? ''] ?? Number.NaN)
}
