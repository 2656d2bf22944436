// Digit classification with an exported STN classifier's `onnx/classifier.onnx` (and, for an
// ST-CNN, `onnx/rectifier.onnx`, what its spatial transformer hands the classifier).

import { createSession, readCard, readLimits } from "../../driver/load.mjs";
import { greyFloats, rgbFloats } from "../../driver/pixels.mjs";
import { argmax } from "../../driver/sampling.mjs";

export class STNClassifier {
  /**
   * Loads an STN classifier version.
   * @param {Object} ort the onnxruntime-node or onnxruntime-web module
   * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
   * @param {{sessionOptions?: Object, card?: Object}} [options] sessionOptions: passed to
   *   `InferenceSession.create`; card: the version's model card if already read (`readCard`),
   *   else it is read here
   * @returns {Promise<STNClassifier>}
   */
  static async create(ort, loadFile, { sessionOptions = {}, card = null } = {}) {
    card ??= await readCard(loadFile);
    if (card.kind !== "stn_classifier") throw new Error(`this version holds a ${card.kind} model, not a digit classifier`);
    const shape = card.input_shape;
    if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)
        || ![1, 3].includes(shape[2])) {
      throw new Error("the model card's input_shape is not [height, width, 1 or 3]; export the model again");
    }
    const limits = await readLimits(loadFile, ["max_rows"]);
    const files = (card.onnx && Array.isArray(card.onnx.files)) ? card.onnx.files : [];
    const classifier = await createSession(ort, loadFile, "onnx/classifier.onnx", sessionOptions);
    const rectifier = files.includes("onnx/rectifier.onnx")
      ? await createSession(ort, loadFile, "onnx/rectifier.onnx", sessionOptions) : null;
    return new STNClassifier(ort, classifier, rectifier, shape, limits);
  }

  /** Use `STNClassifier.create`. */
  constructor(ort, classifier, rectifier, shape, limits) {
    this.ort = ort;
    this.classifier = classifier;
    this.rectifier = rectifier;
    /** [height, width, channels] of the model's input (e.g. [28, 28, 1]). */
    this.inputShape = shape;
    /** @type {Object<string, number>} the export's request limits (onnx/limits.json) */
    this.limits = limits;
  }

  /**
   * Classifies one image.
   * @param {import("../../driver/pixels.mjs").Image} image pixels at the model's input size (inputShape):
   *   grey, RGB or RGBA bytes, or floats in [0, 1]; a one-channel model reads grey (R = G = B
   *   pixels as they are, others as BT.601 luma). MNIST digits are light on a dark background.
   * @returns {Promise<{probabilities: Float32Array, logits: Float32Array, classId: number,
   *   rectified: {data: Float32Array, width: number, height: number, channels: number}|null}>}
   *   probabilities and logits (classes,); classId the likeliest class (argmax of the
   *   logits, the first of equal ones); rectified: the spatial transformer's output image in [0, 1]-ish floats, row-major
   *   (null for a plain CNN)
   */
  async classify(image) {
    const [h, w, c] = this.inputShape;
    if (!image || image.width !== w || image.height !== h) {
      throw new Error(`the image must be ${w} x ${h} pixels (the model's input size), got ` +
                      `${image && image.width} x ${image && image.height}; resize it first`);
    }
    const pixels = c === 1 ? greyFloats(image) : rgbFloats(image);
    const images = new this.ort.Tensor("float32", pixels, [1, h, w, c]);
    const out = await this.classifier.run({ images });
    const probabilities = out.probabilities.data;
    const classId = argmax(out.logits.data);
    let rectified = null;
    if (this.rectifier !== null) {
      const r = (await this.rectifier.run({ images })).rectified;
      const [, rh, rw, rc] = r.dims.map(Number);
      rectified = { data: r.data, width: rw, height: rh, channels: rc };
    }
    return { probabilities, logits: out.logits.data, classId, rectified };
  }

  /** Frees the ONNX Runtime sessions. */
  async release() {
    await this.classifier.release();
    if (this.rectifier !== null) await this.rectifier.release();
  }
}
