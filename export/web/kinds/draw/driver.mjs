// DRAW with an exported version's ONNX files: `onnx/decoder_step.onnx` draws an image step by
// step from a seed's noise (generation), `onnx/reconstruct_step.onnx` reads and redraws a grey
// image (reconstruction, with its bound in nats). The T steps run here, so a caller sees every
// canvas and write window as it is drawn. As Python's `kerasrnn.kinds.draw.onnx_driver`: the
// noise eps[b, t, d] = counterNormal(seed_b, t * latent_dim + d) (driver/rng.mjs), the same
// seeds give the same images, and the same checks refuse the same requests.

import { createSession, readCard, readJson, readLimits } from "../../driver/load.mjs";
import { greyFloats, isFloat } from "../../driver/pixels.mjs";
import { counterNormal, toInt64 } from "../../driver/rng.mjs";

const SIZES = { steps: "integer", latent_dim: "integer", encoder_units: "integer", decoder_units: "integer",
                write_size: "integer", image_shape: "array" };
const RECONSTRUCT_FILE = "onnx/reconstruct_step.onnx";

/** Logistic function as Python's driver computes it (float64, rounded to float32). */
function sigmoid(logits) {
  return logits.map((x) => Math.fround(0.5 * (1 + Math.tanh(0.5 * x))));
}

/**
 * @typedef {object} Drawing
 * @property {Float32Array} images (rows, H, W, C) the last canvas, pixel probabilities
 * @property {Float32Array} canvases (rows, steps, H, W, C) the canvas after each step
 * @property {Float32Array} windows (rows, steps, 4) each step's write window: g_x, g_y (its
 *   centre), delta (stride), sigma (width), in 1-based pixels
 * @property {number} rows
 * @property {number} steps
 */

/**
 * @callback OnStep
 * @param {number} t the step (0 .. steps - 1)
 * @param {Float32Array} canvas (rows, H, W, C) pixel probabilities after step t
 * @param {Float32Array} window (rows, 4) the step's write window (see `Drawing`)
 * @returns {void|Promise<void>} awaited before the next step
 */

export class DRAWGenerator {
  /**
   * Loads a DRAW version.
   * @param {Object} ort the onnxruntime-node or onnxruntime-web module
   * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
   * @param {{sessionOptions?: Object, card?: Object}} [options] sessionOptions: passed to
   *   `InferenceSession.create`; card: the version's model card if already read (`readCard`)
   * @returns {Promise<DRAWGenerator>}
   */
  static async create(ort, loadFile, { sessionOptions = {}, card = null } = {}) {
    card ??= await readCard(loadFile);
    if (card.kind !== "draw") throw new Error(`this version holds a ${card.kind} model, not a DRAW model`);
    const sizes = await readJson(loadFile, "onnx/draw.json", SIZES);
    const shape = sizes.image_shape;
    if (!Object.keys(SIZES).every((k) => k === "image_shape" || sizes[k] >= 1) || shape.length !== 3
        || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error("onnx/draw.json is damaged (sizes below 1, or no image_shape [H, W, C]); export the model again");
    }
    const limits = await readLimits(loadFile, ["max_rows"]);
    const decoder = await createSession(ort, loadFile, "onnx/decoder_step.onnx", sessionOptions);
    const files = Array.isArray(card.onnx?.files) ? card.onnx.files : [];
    const reconstructor = files.includes(RECONSTRUCT_FILE)
      ? await createSession(ort, loadFile, RECONSTRUCT_FILE, sessionOptions) : null;
    return new DRAWGenerator(ort, decoder, reconstructor, sizes, limits);
  }

  /** Use `DRAWGenerator.create`. */
  constructor(ort, decoder, reconstructor, sizes, limits) {
    this.ort = ort;
    this.decoder = decoder;
    this.reconstructor = reconstructor;
    /** T: the steps of every drawing. */
    this.steps = sizes.steps;
    this.latentDim = sizes.latent_dim;
    this.encoderUnits = sizes.encoder_units;
    this.decoderUnits = sizes.decoder_units;
    /** N of the write window: it spans N delta pixels around its centre. */
    this.writeSize = sizes.write_size;
    /** [height, width, channels] of the images (e.g. [28, 28, 1]). */
    this.imageShape = sizes.image_shape;
    /** @type {Object<string, number>} the export's request limits (onnx/limits.json) */
    this.limits = limits;
  }

  /** Values per image (H W C). */
  get pixels() {
    return this.imageShape[0] * this.imageShape[1] * this.imageShape[2];
  }

  /** The seeds as BigInt int64s, checked (a list, at most max_rows, each an int64). */
  checkSeeds(seeds, what = "seeds") {
    if (!Array.isArray(seeds)) throw new Error("seeds must be a list of int64 integers, one per image");
    if (seeds.length > this.limits.max_rows) {
      throw new Error(`too many ${what} in one request: at most ${this.limits.max_rows} (max_rows); got ${seeds.length}`);
    }
    return seeds.map((s) => toInt64(s, "seed"));
  }

  /** eps of each row: (rows, steps, latent_dim) float32 (see the module comment). */
  noise(seeds) {
    const [T, Z] = [this.steps, this.latentDim];
    const eps = new Float32Array(seeds.length * T * Z);
    seeds.forEach((seed, b) => {
      for (let i = 0; i < T * Z; i++) eps[b * T * Z + i] = Math.fround(counterNormal(seed, i));
    });
    return eps;
  }

  /** eps of step t for every row: (rows, latent_dim). */
  stepNoise(eps, rows, t) {
    const [T, Z] = [this.steps, this.latentDim];
    const out = new Float32Array(rows * Z);
    for (let b = 0; b < rows; b++) out.set(eps.subarray((b * T + t) * Z, (b * T + t + 1) * Z), b * Z);
    return out;
  }

  tensor(data, width) {
    return new this.ort.Tensor("float32", data, width === null ? [data.length] : [data.length / width, width]);
  }

  /**
   * Draws one image per seed (the SavedModel's `generate`).
   * @param {Array<number|bigint|string>} seeds int64 seeds (safe-integer numbers, BigInts or
   *   decimal strings), at most `limits.max_rows`
   * @param {{onStep?: OnStep}} [options] onStep: called after every step, awaited
   * @returns {Promise<Drawing>}
   */
  async generate(seeds, { onStep = null } = {}) {
    const checked = this.checkSeeds(seeds);
    const [rows, T, P] = [checked.length, this.steps, this.pixels];
    const eps = this.noise(checked);
    let canvas = new Float32Array(rows * P);
    let h = new Float32Array(rows * this.decoderUnits);
    let c = new Float32Array(rows * this.decoderUnits);
    const canvases = new Float32Array(rows * T * P);
    const windows = new Float32Array(rows * T * 4);
    for (let t = 0; t < (rows ? T : 0); t++) {
      const out = await this.decoder.run({
        z: this.tensor(this.stepNoise(eps, rows, t), this.latentDim), canvas: this.tensor(canvas, P),
        h: this.tensor(h, this.decoderUnits), c: this.tensor(c, this.decoderUnits),
      });
      [canvas, h, c] = [out.next_canvas.data, out.next_h.data, out.next_c.data];
      const drawn = sigmoid(canvas);
      const window = out.window.data;
      for (let b = 0; b < rows; b++) {
        canvases.set(drawn.subarray(b * P, (b + 1) * P), (b * T + t) * P);
        windows.set(window.subarray(b * 4, (b + 1) * 4), (b * T + t) * 4);
      }
      if (onStep) await onStep(t, drawn, window);
    }
    const images = new Float32Array(rows * P);
    for (let b = 0; b < rows; b++) images.set(canvases.subarray((b * T + T - 1) * P, (b * T + T) * P), b * P);
    return { images, canvases, windows, rows, steps: T };
  }

  /**
   * Reconstructs grey images, a pixel >= 0.5 read as 1 and others as 0 (the SavedModel's
   * `reconstruct`).
   * @param {import("../../driver/pixels.mjs").Image[]} images at the model's size (imageShape),
   *   grey, RGB or RGBA bytes or floats in [0, 1]; at most `limits.max_rows`
   * @param {Array<number|bigint|string>} seeds the encoder's noise, one int64 seed per image
   * @param {{onStep?: OnStep}} [options] onStep: called after every step, awaited
   * @returns {Promise<{reconstructions: Float32Array, nllBound: Float32Array, rows: number}>}
   *   reconstructions (rows, H, W, C) pixel probabilities; nllBound (rows,) the bound on
   *   -log p(x) in nats of each binarized image
   */
  async reconstruct(images, seeds, { onStep = null } = {}) {
    if (this.reconstructor === null) {
      throw new Error("this version has no onnx/reconstruct_step.onnx; export the model again to reconstruct images");
    }
    if (!Array.isArray(images)) throw new Error("images must be a list of images");
    const checked = this.checkSeeds(seeds);
    if (images.length > this.limits.max_rows) {
      throw new Error(`too many images in one request: at most ${this.limits.max_rows} (max_rows); got ${images.length}`);
    }
    if (checked.length !== images.length) {
      throw new Error(`seeds must be one per image: got ${checked.length} for ${images.length} images`);
    }
    const [height, width, channels] = this.imageShape;
    if (channels !== 1) throw new Error(`only grey models reconstruct here; this one has ${channels} channels`);
    const [rows, T, P, E, D] = [checked.length, this.steps, this.pixels, this.encoderUnits, this.decoderUnits];
    const grey = new Float32Array(rows * P);
    images.forEach((image, b) => {
      if (!image || image.width !== width || image.height !== height) {
        throw new Error(`the image must be ${width} x ${height} pixels (the model's size), got ` +
                        `${image && image.width} x ${image && image.height}; resize it first`);
      }
      if (isFloat(image.data) && !image.data.every((v) => v >= 0 && v <= 1)) {
        throw new Error("images must hold pixels between 0 and 1 (grey levels; not NaN)");
      }
      grey.set(greyFloats(image), b * P);
    });
    const eps = this.noise(checked);
    let state = { canvas: new Float32Array(rows * P), h_enc: new Float32Array(rows * E),
                  c_enc: new Float32Array(rows * E), h_dec: new Float32Array(rows * D),
                  c_dec: new Float32Array(rows * D), kl: new Float32Array(rows) };
    const widths = { canvas: P, h_enc: E, c_enc: E, h_dec: D, c_dec: D, kl: null };
    let nllBound = new Float32Array(rows);
    for (let t = 0; t < (rows ? T : 0); t++) {
      const feeds = { images: this.tensor(grey, P), eps: this.tensor(this.stepNoise(eps, rows, t), this.latentDim) };
      for (const [name, data] of Object.entries(state)) feeds[name] = this.tensor(data, widths[name]);
      const out = await this.reconstructor.run(feeds);
      state = Object.fromEntries(Object.keys(state).map((name) => [name, out[`next_${name}`].data]));
      nllBound = out.nll_bound.data;
      if (onStep) await onStep(t, sigmoid(state.canvas), out.window.data);
    }
    return { reconstructions: sigmoid(state.canvas), nllBound, rows };
  }

  /** Frees the ONNX Runtime sessions. */
  async release() {
    await this.decoder.release();
    if (this.reconstructor !== null) await this.reconstructor.release();
  }
}
