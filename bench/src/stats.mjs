// @ts-check

/**
 * Nearest-rank percentile of values sorted ascending.
 *
 * @example percentile(Float64Array.of(1, 2, 3, 4), 0.5) // 2
 * @param {ArrayLike<number>} sorted
 * @param {number} q between 0 and 1
 */
export function percentile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/**
 * Median of a list, unsorted; NaN when empty.
 *
 * @example median([3, 1, 2]) // 2
 * @param {readonly number[]} values
 */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}
