// numpy's float64 summation order (pairwise summation, `pairwise_sum` in numpy's
// loops_utils.h.src), so sums over a row here round exactly as `np.sum(x, axis=-1)` does.

const BLOCK = 128;

/**
 * Sum of `x[start .. start + n)` in numpy's order: under 8 numbers one after another; up to
 * 128 in 8 interleaved partial sums ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then
 * the rest; longer runs split in two halves (the first a multiple of 8) summed recursively.
 * @param {ArrayLike<number>} x
 * @param {number} [start=0]
 * @param {number} [n=x.length - start]
 * @returns {number}
 */
export function pairwiseSum(x, start = 0, n = x.length - start) {
  if (n < 8) {
    let res = -0.0;  // numpy's reduction starts from the first element; -0 + x = x for every x
    for (let i = 0; i < n; i++) res += x[start + i];
    return res;
  }
  if (n <= BLOCK) {
    const r = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => x[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += x[start + i + j];
    }
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += x[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(x, start, n2) + pairwiseSum(x, start + n2, n - n2);
}
