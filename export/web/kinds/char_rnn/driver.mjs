// Text generation with an exported char model's `onnx/step.onnx`: the loop of Python's
// `kerasrnn.export.char.onnx_driver.CharGenerator`, so the same prime, length, temperature,
// top-k and seed give the same text.

import { createSession, readCard, readJson, readLimits } from "../../driver/load.mjs";
import { counterUniform, toInt64 } from "../../driver/rng.mjs";
import { chooseNext } from "../../driver/sampling.mjs";

const LIMIT_NAMES = ["max_rows", "max_length", "max_prime_length", "max_request_chars", "max_step_tokens"];
// Limits added after the first exports: null (not checked) in a version exported before them.
const ADDED_LIMIT_NAMES = ["max_prime_bytes"];
const INT32_MAX = 2 ** 31 - 1;

/** A lone UTF-16 surrogate, which UTF-8 encoding writes as U+FFFD. */
function isLoneSurrogate(c) {
  return c.length === 1 && c >= "\uD800" && c <= "\uDFFF";
}

/** The character an empty prime starts from: a newline if the vocabulary has one, else its first. */
function startChar(chars) {
  return chars.includes("\n") ? "\n" : chars[0];
}

export class CharGenerator {
  /**
   * Loads a char model version.
   * @param {Object} ort the onnxruntime-node or onnxruntime-web module
   * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
   * @param {{sessionOptions?: Object, card?: Object}} [options] sessionOptions: passed to
   *   `InferenceSession.create`; card: the version's model card if already read (`readCard`),
   *   else it is read here
   * @returns {Promise<CharGenerator>}
   */
  static async create(ort, loadFile, { sessionOptions = {}, card = null } = {}) {
    card ??= await readCard(loadFile);
    if (card.kind !== "char_rnn") throw new Error(`this version holds a ${card.kind} model, not a char model`);
    const { chars } = await readJson(loadFile, "onnx/vocab.json", { chars: "array" });
    if (!chars.length || !chars.every((c) => typeof c === "string" && [...c].length === 1)
        || new Set(chars).size !== chars.length) {
      throw new Error("onnx/vocab.json is damaged (chars must be distinct single characters); export the model again");
    }
    const limits = await readLimits(loadFile, LIMIT_NAMES, ADDED_LIMIT_NAMES);
    const sizes = card.step_states;
    const session = await createSession(ort, loadFile, "onnx/step.onnx", sessionOptions);
    const stateNames = session.inputNames.filter((n) => n !== "tokens");
    if (!sizes || !stateNames.every((n) => Number.isInteger(sizes[n]) && sizes[n] > 0)) {
      throw new Error("the model card's step_states do not name the sizes of step.onnx's state inputs; " +
                      "export the model again");
    }
    return new CharGenerator(ort, session, chars, limits, stateNames.map((n) => [n, sizes[n]]));
  }

  /** Use `CharGenerator.create`. */
  constructor(ort, session, chars, limits, states) {
    this.ort = ort;
    this.session = session;
    /** @type {string[]} the vocabulary, in id order */
    this.chars = chars;
    /** @type {Object<string, number>} the export's request limits (onnx/limits.json) */
    this.limits = limits;
    this.states = states;  // [[input name, size H], ...] in the session's input order
    this.index = new Map(chars.map((c, i) => [c, i]));
  }

  /**
   * Checks a request and returns the prime's ids (Error: what is wrong and what to do).
   * @returns {Int32Array} (T,) the prime's ids, T >= 1 (an empty prime starts from `startChar`)
   */
  check(prime, length, { temperature = 1, topK = 0, seed = 0 } = {}) {
    const limits = this.limits;
    if (typeof prime !== "string") throw new Error("prime must be a string");
    if (!Number.isInteger(length) || length < 0 || length > limits.max_length) {
      throw new Error(`length must be an integer between 0 and ${limits.max_length} (max_length), got ${length}`);
    }
    // The SavedModel reads temperature as float32: 1e300 is infinity there.
    if (typeof temperature !== "number" || !Number.isFinite(Math.fround(temperature)) || !(temperature >= 0)) {
      throw new Error(`temperature must be a finite number >= 0 in float32 (0 = argmax, at most 3.4e38), got ${temperature}`);
    }
    if (!Number.isInteger(topK) || topK < 0 || topK > INT32_MAX) {
      throw new Error(`topK must be an integer >= 0 (0 = all) and at most ${INT32_MAX}, got ${topK}`);
    }
    toInt64(seed, "seed");
    // Bytes of the prime's UTF-8 encoding first (at least one per UTF-16 unit), then its
    // characters as the model steps over them: code points, a lone surrogate one U+FFFD.
    const most = limits.max_prime_bytes;
    if (most !== null && prime.length > most) {
      throw new Error(`prime too long: at most ${most} bytes of UTF-8 (max_prime_bytes), got at least ${prime.length}; shorten it`);
    }
    if (most !== null && new TextEncoder().encode(prime).length > most) {
      throw new Error(`prime too long: at most ${most} bytes of UTF-8 (max_prime_bytes), ` +
                      `got ${new TextEncoder().encode(prime).length}; shorten it`);
    }
    const characters = Array.from(prime, (c) => (isLoneSurrogate(c) ? "\uFFFD" : c));
    if (characters.length > limits.max_prime_length) {
      throw new Error(`prime too long: at most ${limits.max_prime_length} characters (max_prime_length), ` +
                      `got ${characters.length}; shorten it`);
    }
    if (characters.length + length > limits.max_request_chars) {
      throw new Error(`request too large: rows x (longest prime + longest length) must be at most ` +
                      `${limits.max_request_chars} (max_request_chars), got ${characters.length + length}; ` +
                      `ask for fewer characters`);
    }
    const unknown = [...new Set(characters.filter((c) => !this.index.has(c)))];
    if (unknown.length) {
      throw new Error(`the prime has characters the model does not know: ${unknown.map((c) => JSON.stringify(c)).join(" ")}; ` +
                      `use only characters of its vocabulary (${this.chars.length} characters, see the model card)`);
    }
    return Int32Array.from(characters.length ? characters : [startChar(this.chars)], (c) => this.index.get(c));
  }

  /**
   * One call of step.onnx for one row.
   * @param {Int32Array} ids (T,) token ids
   * @param {Object[]} states one ort.Tensor (1, H) per state input
   * @returns {Promise<{logits: Float32Array, states: Object[]}>} the last token's logits (V,)
   *   and the next states
   */
  async step(ids, states) {
    const feeds = { tokens: new this.ort.Tensor("int32", ids, [1, ids.length]) };
    this.states.forEach(([name], j) => { feeds[name] = states[j]; });
    const out = await this.session.run(feeds);
    const v = this.chars.length;
    const logits = out.logits.data.subarray((ids.length - 1) * v, ids.length * v);
    return { logits, states: this.states.map(([name]) => out[`next_${name}`]) };
  }

  /**
   * Generates `length` characters after `prime`, one at a time (the prime itself is not yielded).
   * Generated character g (from 0) is drawn with `counterUniform(seed, g)`; temperature is
   * rounded to float32 first, as the SavedModel and the Python driver read it.
   *
   * @param {string} prime text to start from; every character must be in the vocabulary
   *   (empty: start from a newline, or the vocabulary's first character)
   * @param {number} length number of characters to generate, 0 .. max_length
   * @param {{temperature?: number, topK?: number, seed?: number|bigint|string}} [options]
   *   temperature 0 = argmax, 1 = the model's distribution (default 1); topK 0 = all (default);
   *   seed an int64 (default 0)
   * @returns {AsyncGenerator<string>} the generated characters
   */
  async *generate(prime, length, { temperature = 1, topK = 0, seed = 0 } = {}) {
    let ids = this.check(prime, length, { temperature, topK, seed });
    const t = Math.fround(temperature);
    let states = this.states.map(([, size]) => new this.ort.Tensor("float32", new Float32Array(size), [1, size]));
    const most = this.limits.max_step_tokens;
    for (let g = 0; g < length; g++) {
      // A prime may be longer than one step.onnx call may take (max_step_tokens): in pieces.
      for (let start = most; start < ids.length; start += most) {
        states = (await this.step(ids.slice(start - most, start), states)).states;
      }
      ids = ids.slice(Math.floor((ids.length - 1) / most) * most);
      const out = await this.step(ids, states);
      states = out.states;
      const id = chooseNext(out.logits, t, topK, t === 0 ? 0 : counterUniform(seed, g));
      ids = Int32Array.of(id);
      yield this.chars[id];
    }
  }

  /** Frees the ONNX Runtime session. */
  async release() {
    await this.session.release();
  }
}
