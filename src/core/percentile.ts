/**
 * Nearest-rank percentile `p` (0–100) of ascending `sorted`: the smallest value with at least
 * p% of the values at or below it. Null when there are none.
 */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p * sorted.length) / 100);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}
