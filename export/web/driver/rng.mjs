// Counter-based uniform random numbers, bit-identical to Python's
// `kerasrnn.export.char.onnx_driver.counter_uniform` (and to the SavedModel's graph).
//
// Algorithm (splitmix64; Steele, Lea, Flood 2014), all arithmetic modulo 2**64:
//   s  = the seed as an unsigned 64-bit integer (a negative int64 seed wraps: s = seed + 2**64)
//   z  = s + (n + 1) * 0x9E3779B97F4A7C15          n = the index (which number of the stream)
//   z  = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
//   z  = (z ^ (z >> 27)) * 0x94D049BB133111EB
//   z  = z ^ (z >> 31)
//   u  = (z >> 11) / 2**53                          the top 53 bits: a float64 in [0, 1)
// The number depends on (seed, index) only, never on earlier draws, the batch or the runtime.

const MASK = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const GOLDEN = 0x9E3779B97F4A7C15n;
const MIX_1 = 0xBF58476D1CE4E5B9n;
const MIX_2 = 0x94D049BB133111EBn;

/**
 * A seed or index as a BigInt int64, checked.
 * @param {number|bigint|string} value an integer: a safe-integer number, a BigInt or a decimal string
 * @param {string} what its name, for the error
 * @returns {bigint}
 */
export function toInt64(value, what = "seed") {
  let big;
  if (typeof value === "bigint") big = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) big = BigInt(value);
  else if (typeof value === "string" && /^-?\d+$/.test(value.trim())) big = BigInt(value.trim());
  else {
    throw new Error(`${what} must be an integer (a safe-integer number, a BigInt or a decimal string), ` +
                    `got ${String(value)}`);
  }
  if (big < INT64_MIN || big > INT64_MAX) {
    throw new Error(`${what} must be a 64-bit signed integer (between -2**63 and 2**63 - 1), got ${big}`);
  }
  return big;
}

/**
 * The `index`-th uniform number of the stream seeded with `seed` (see the algorithm above).
 * @param {number|bigint|string} seed int64 seed
 * @param {number|bigint} index which number of the stream, >= 0
 * @returns {number} float64 in [0, 1)
 */
export function counterUniform(seed, index) {
  const s = BigInt.asUintN(64, toInt64(seed, "seed"));
  const n = BigInt.asUintN(64, toInt64(index, "index"));
  let z = (s + (n + 1n) * GOLDEN) & MASK;
  z = ((z ^ (z >> 30n)) * MIX_1) & MASK;
  z = ((z ^ (z >> 27n)) * MIX_2) & MASK;
  z ^= z >> 31n;
  return Number(z >> 11n) * 2 ** -53;
}

/**
 * The `index`-th standard normal number of the stream seeded with `seed`: Box-Muller in float64 on
 * the uniforms 2 index and 2 index + 1 of the stream, sqrt(-2 log(1 - u1)) cos(2 pi u2), as
 * Python's `kerasrnn.export.counter_random.counter_normal` (equal to it within the last bits
 * where Math.log1p and Math.cos round otherwise than numpy's).
 * @param {number|bigint|string} seed int64 seed
 * @param {number|bigint} index which number of the normal stream, >= 0, below 2**62
 * @returns {number} float64
 */
export function counterNormal(seed, index) {
  const n = toInt64(index, "index");
  if (n < 0n || n >= 1n << 62n) throw new Error(`index must be between 0 and 2**62 - 1, got ${n}`);
  const u1 = counterUniform(seed, 2n * n);
  const u2 = counterUniform(seed, 2n * n + 1n);
  return Math.sqrt(-2 * Math.log1p(-u1)) * Math.cos(2 * Math.PI * u2);
}
