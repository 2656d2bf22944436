// How the next character is chosen from a char model's logits: the rule of Python's
// `kerasrnn.models.token_choice.choose_next`, step for step in float64, so the same logits and
// uniform number pick the same id.

import { pairwiseSum } from "./sum.mjs";

/**
 * Index of the largest value, the first of equal ones (numpy's `argmax`; a NaN wins, as there).
 * @param {ArrayLike<number>} x
 * @returns {number}
 */
export function argmax(x) {
  let best = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) return i;
    if (x[i] > x[best]) best = i;
  }
  return best;
}

/**
 * Picks the next token of one row of logits.
 *
 * The rule (float64 throughout):
 *   temperature 0: argmax (the first of equal logits);
 *   otherwise s = logits / temperature; if 0 < topK < V, every s below the topK-th largest
 *   value becomes -Infinity (ties with that value are all kept, so more than topK may stay);
 *   p = exp(s - max(s)) / sum (numpy's pairwise summation order);
 *   the id is the number of cumulative sums p[0], p[0] + p[1], ... (added one after another)
 *   that are below `uniform`, at most V - 1 (inverse-CDF sampling, one uniform per token).
 *
 * @param {ArrayLike<number>} logits (V,) unnormalised log-probabilities (e.g. a Float32Array row)
 * @param {number} temperature >= 0; the char driver rounds it to float32 before calling
 * @param {number} topK >= 0; 0 = all tokens
 * @param {number} uniform in [0, 1) (unused at temperature 0), e.g. `counterUniform(seed, g)`
 * @returns {number} the chosen id
 */
export function chooseNext(logits, temperature, topK, uniform) {
  const v = logits.length;
  if (temperature === 0) return argmax(logits);
  const scaled = new Float64Array(v);
  for (let i = 0; i < v; i++) scaled[i] = logits[i] / temperature;
  if (topK > 0 && topK < v) {
    const sorted = Float64Array.from(scaled).sort();  // ascending
    const kth = sorted[v - topK];
    for (let i = 0; i < v; i++) if (scaled[i] < kth) scaled[i] = -Infinity;
  }
  let max = -Infinity;
  for (let i = 0; i < v; i++) max = Math.max(max, scaled[i]);
  const probs = new Float64Array(v);
  for (let i = 0; i < v; i++) probs[i] = Math.exp(scaled[i] - max);
  const total = pairwiseSum(probs);
  let cumulative = 0;
  let below = 0;
  for (let i = 0; i < v; i++) {
    cumulative += probs[i] / total;
    if (cumulative < uniform) below += 1;
  }
  return Math.min(below, v - 1);
}
