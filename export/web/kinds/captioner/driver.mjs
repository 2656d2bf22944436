// Captioning with an exported captioner's `onnx/encoder.onnx` and `onnx/decoder_step.onnx`: the
// decoding of Python's `kerasrnn.export.captioner.onnx_driver.CaptionerONNX` (greedy = beam 1),
// so the same pixels give the same caption.

import { beamSearch } from "../../driver/beam_search.mjs";
import { createSession, readCard, readJson, readLimits } from "../../driver/load.mjs";
import { rgbFloats } from "../../driver/pixels.mjs";

const AGAIN = "export the model again";

/** `n` copies of `data` one after another (numpy's `np.repeat(x, n, axis=0)` of one row). */
function repeatRows(data, n) {
  const out = new data.constructor(data.length * n);
  for (let i = 0; i < n; i++) out.set(data, i * data.length);
  return out;
}

/** Rows `index` of a (N, H) float32 tensor's data. */
function gatherRows(data, index) {
  const h = data.length / index.length;
  const out = new Float32Array(data.length);
  index.forEach((row, i) => out.set(data.subarray(row * h, (row + 1) * h), i * h));
  return out;
}

export class Captioner {
  /**
   * Loads a captioner version.
   * @param {Object} ort the onnxruntime-node or onnxruntime-web module
   * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
   * @param {{sessionOptions?: Object, card?: Object}} [options] sessionOptions: passed to
   *   `InferenceSession.create`; card: the version's model card if already read (`readCard`),
   *   else it is read here
   * @returns {Promise<Captioner>}
   */
  static async create(ort, loadFile, { sessionOptions = {}, card = null } = {}) {
    card ??= await readCard(loadFile);
    if (card.kind !== "captioner") throw new Error(`this version holds a ${card.kind} model, not a captioner`);
    const vocab = await readJson(loadFile, "onnx/vocab.json", { special: "array", words: "array" });
    const words = [...vocab.special, ...vocab.words];
    const settings = await readJson(loadFile, "onnx/decoding.json", {
      start_id: "integer", end_id: "integer", pad_id: "integer", max_length: "integer",
      length_penalty: "number", image_size: "integer", states: "array"});
    if (!["start_id", "end_id", "pad_id"].every((k) => settings[k] >= 0 && settings[k] < words.length)
        || settings.max_length < 1 || settings.max_length > 1000 || settings.image_size < 1) {
      throw new Error(`onnx/decoding.json is damaged (ids, max_length or image_size out of range); ${AGAIN}`);
    }
    const limits = await readLimits(loadFile, ["max_rows", "max_beam_width"]);
    const work = limits.max_decode_work;  // absent in a version exported before it: not checked
    if (work !== undefined && work !== null && !(Number.isInteger(work) && work >= 1)) {
      throw new Error(`onnx/limits.json does not hold the limit max_decode_work (an integer >= 1); ${AGAIN}`);
    }
    const encoder = await createSession(ort, loadFile, "onnx/encoder.onnx", sessionOptions);
    const decoder = await createSession(ort, loadFile, "onnx/decoder_step.onnx", sessionOptions);
    return new Captioner(ort, encoder, decoder, words, settings, limits);
  }

  /** Use `Captioner.create`. */
  constructor(ort, encoder, decoder, words, settings, limits) {
    this.ort = ort;
    this.encoder = encoder;
    this.decoder = decoder;
    /** @type {string[]} the vocabulary in id order: <pad>, <unk>, <start>, <end>, words */
    this.words = words;
    this.startId = settings.start_id;
    this.endId = settings.end_id;
    this.padId = settings.pad_id;
    /** Most tokens per caption, <end> included. */
    this.maxLength = settings.max_length;
    this.lengthPenalty = settings.length_penalty;
    /** The model's input size S: images must be S x S pixels. */
    this.imageSize = settings.image_size;
    this.stateNames = settings.states;
    /** @type {Object<string, number>} the export's request limits (onnx/limits.json) */
    this.limits = limits;
  }

  /**
   * Checks a request's settings before any image is decoded (Error: what is wrong).
   * @param {{beam?: number}} [options] as `caption` takes them
   */
  check({ beam = 1 } = {}) {
    const limit = this.limits.max_beam_width;
    if (!Number.isInteger(beam) || beam < 1 || beam > limit) {
      throw new Error(`beam must be between 1 (greedy) and ${limit} (max_beam_width), a whole number; got ${beam}`);
    }
  }

  /**
   * Captions one image: greedy decoding at beam 1, else beam search.
   *
   * @param {import("../../driver/pixels.mjs").Image} image RGB or RGBA pixels, exactly imageSize x imageSize
   *   (bytes, or floats in [0, 1] such as `resizeImage` gives)
   * @param {{beam?: number}} [options] beam width, 1 (greedy, the default) .. max_beam_width
   * @returns {Promise<{tokens: number[], words: string[], text: string, attention: Float32Array[],
   *   grid: number[]|null, logProb: number, score: number}>} tokens: the ids generated (with
   *   <end> if reached); words: the caption's words (up to <end>, without <pad> and <start>);
   *   attention: one map (L,) per entry of `words`, L = grid[0] * grid[1] image locations, row-major
   */
  async caption(image, { beam = 1 } = {}) {
    this.check({ beam });
    const s = this.imageSize;
    if (!image || image.width !== s || image.height !== s) {
      throw new Error(`the image must be ${s} x ${s} pixels (the model's input size), got ` +
                      `${image && image.width} x ${image && image.height}; resize it first`);
    }
    const pixels = rgbFloats(image);
    const encoded = await this.encoder.run({ images: new this.ort.Tensor("float32", pixels, [1, s, s, 3]) });
    const tensor = (t) => [repeatRows(t.data, beam), [beam, ...t.dims.slice(1).map(Number)]];
    const [annotations, annotationDims] = tensor(encoded.annotations);
    const [projected, projectedDims] = tensor(encoded.projected);
    let states = this.stateNames.map((n) => tensor(encoded[n]));
    const step = async (tokens, parents) => {
      if (parents !== null) states = states.map(([data, dims]) => [gatherRows(data, parents), dims]);
      const feeds = {
        tokens: new this.ort.Tensor("int32", tokens, [tokens.length]),
        annotations: new this.ort.Tensor("float32", annotations, annotationDims),
        projected: new this.ort.Tensor("float32", projected, projectedDims),
      };
      this.stateNames.forEach((n, j) => { feeds[n] = new this.ort.Tensor("float32", states[j][0], states[j][1]); });
      const out = await this.decoder.run(feeds);
      states = this.stateNames.map((n) => [out[`next_${n}`].data, out[`next_${n}`].dims.map(Number)]);
      return { logits: out.logits.data, attention: out.attention.data };
    };
    const best = await beamSearch(step, { startId: this.startId, endId: this.endId, maxLength: this.maxLength,
                                          beamWidth: beam, lengthPenalty: this.lengthPenalty });
    const words = [];
    const attention = [];
    for (let i = 0; i < best.tokens.length && best.tokens[i] !== this.endId; i++) {
      if (best.tokens[i] === this.padId || best.tokens[i] === this.startId) continue;
      words.push(this.words[best.tokens[i]]);
      attention.push(best.attention[i]);
    }
    const l = encoded.annotations.dims.map(Number)[1];
    const g = Math.round(Math.sqrt(l));
    return { tokens: best.tokens, words, text: words.join(" "), attention, grid: g * g === l ? [g, g] : null,
             logProb: best.logProb, score: best.score };
  }

  /** Frees the ONNX Runtime sessions. */
  async release() {
    await this.encoder.release();
    await this.decoder.release();
  }
}
