// Beam search over a caption decoder step: the algorithm of Python's
// `kerasrnn.models.beam_search_numpy.beam_search` for one image (same scores in float64, same
// ranking and ties, same finished/survivor rules and stopping test). beamWidth 1 is greedy.

import { pairwiseSum } from "./sum.mjs";

/**
 * float64 log-softmax of each row, as numpy's `log_softmax`: s = x - max; s - log(sum(exp(s))).
 * @param {ArrayLike<number>} logits (rows * V,) row-major
 * @param {number} v the row length V
 * @returns {Float64Array} (rows * V,)
 */
function logSoftmax(logits, v) {
  const out = new Float64Array(logits.length);
  const e = new Float64Array(v);
  for (let start = 0; start < logits.length; start += v) {
    let max = -Infinity;
    for (let j = 0; j < v; j++) max = Math.max(max, logits[start + j]);
    for (let j = 0; j < v; j++) {
      out[start + j] = logits[start + j] - max;
      e[j] = Math.exp(out[start + j]);
    }
    const logSum = Math.log(pairwiseSum(e));
    for (let j = 0; j < v; j++) out[start + j] -= logSum;
  }
  return out;
}

function score(hyp, lengthPenalty) {
  return hyp.logProb / hyp.tokens.length ** lengthPenalty;
}

// Whether a live beam could still finish better than the best finished caption: its log-prob
// can only fall and its length reach maxLength.
function canImprove(live, finished, maxLength, lengthPenalty) {
  if (live.length === 0 || finished.length === 0) return live.length > 0;
  const bound = Math.max(...live.map((h) => h.logProb)) / maxLength ** lengthPenalty;
  return bound > Math.max(...finished.map((h) => score(h, lengthPenalty)));
}

/**
 * @callback StepFunction
 * @param {Int32Array} tokens (k,) the last token of each beam slot (startId for an empty or unused slot)
 * @param {Int32Array|null} parents (k,) which row of the previous call's new states each slot
 *   continues (null on the first call: every row starts from the initial states)
 * @returns {Promise<{logits: ArrayLike<number>, attention: ArrayLike<number>}>} logits (k * V,)
 *   and attention weights (k * L,), row-major
 */

/**
 * @typedef {object} Caption
 * @property {number[]} tokens word ids, without <start>, with <end> if it was reached
 * @property {number} logProb summed log-probability (float64)
 * @property {number} score logProb / tokens.length ** lengthPenalty
 * @property {Float32Array[]} attention one attention map (L,) per token
 */

/**
 * Keeps the beamWidth best partial captions by summed log-probability; a caption that emits
 * endId (or reaches maxLength) is finished; returns the finished caption with the best score
 * (the first of equal ones). Candidates are ranked by total log-probability, descending, ties
 * broken by (slot, word) order. The search stops when no beam is left or none can still beat the
 * best finished caption (bound: best live log-prob / maxLength ** lengthPenalty).
 *
 * @param {StepFunction} step the decoder, always called with beamWidth rows
 * @param {{startId: number, endId: number, maxLength: number, beamWidth: number,
 *          lengthPenalty?: number}} settings
 * @returns {Promise<Caption>}
 */
export async function beamSearch(step, { startId, endId, maxLength, beamWidth, lengthPenalty = 0 }) {
  if (!Number.isInteger(beamWidth) || beamWidth < 1) throw new Error(`beam width must be >= 1, got ${beamWidth}`);
  const k = beamWidth;
  /** @type {({tokens: number[], logProb: number, attention: Float32Array[]}|null)[]} */
  let beams = [{ tokens: [], logProb: 0, attention: [] }, ...Array(k - 1).fill(null)];
  const finished = [];
  let parents = null;
  for (let t = 0; t < maxLength; t++) {
    const last = Int32Array.from(beams, (b) => (b && b.tokens.length ? b.tokens[b.tokens.length - 1] : startId));
    const { logits, attention } = await step(last, parents);
    const v = logits.length / k;
    const l = attention.length / k;
    const logp = logSoftmax(logits, v);
    const live = [];
    beams.forEach((b, i) => { if (b !== null) live.push(i); });
    const totals = new Float64Array(live.length * v);
    live.forEach((i, row) => {
      for (let w = 0; w < v; w++) totals[row * v + w] = beams[i].logProb + logp[i * v + w];
    });
    // numpy's argsort(-totals, kind="stable")[:k]: descending, ties in flat index order
    const order = Array.from(totals.keys()).sort((a, b) => {
      const ta = totals[a];
      const tb = totals[b];
      return ta > tb ? -1 : ta < tb ? 1 : a - b;
    }).slice(0, k);
    const keep = new Int32Array(k);
    const survivors = [];
    for (const flat of order) {
      const row = Math.floor(flat / v);
      const word = flat % v;
      const i = live[row];
      const hyp = {
        tokens: [...beams[i].tokens, word],
        logProb: totals[flat],
        attention: [...beams[i].attention, Float32Array.from(attention.slice(i * l, (i + 1) * l))],
      };
      if (word === endId || t === maxLength - 1) {
        finished.push(hyp);
      } else {
        keep[survivors.length] = i;
        survivors.push(hyp);
      }
    }
    beams = [...survivors, ...Array(k - survivors.length).fill(null)];
    if (!canImprove(survivors, finished, maxLength, lengthPenalty)) break;
    parents = keep;
  }
  let best = finished[0];
  for (const h of finished) if (score(h, lengthPenalty) > score(best, lengthPenalty)) best = h;
  return { ...best, score: score(best, lengthPenalty) };
}
