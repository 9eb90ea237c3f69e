/** The value at rank `p` (0..1) of `values`, nearest rank on the sorted copy; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.round(p * (sorted.length - 1))] ?? NaN
}
