// The digit classifier in the Node.js example (export/node/example.mjs): its options and output.

import { STNClassifier } from "./driver.mjs";

export const WHAT = "a digit classifier";

/** The options it reads: `{name: {value (in the usage line), default (undefined: required)}}`. */
export const OPTIONS = { image: { value: "FILE", default: undefined } };

/**
 * Prints the class of --image, at the model's input size, and its probability (with --json,
 * the probabilities, logits and rectified image).
 * @param {Object} ort onnxruntime-node
 * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
 * @param {Object} card the version's model card
 * @param {Object} args the options, defaults filled in (strings)
 * @param {{write: function(string)}} out where to print
 * @param {{decodeImage: function}} tools the example's image decoder
 */
export async function run(ort, loadFile, card, args, out, { decodeImage }) {
  const classifier = await STNClassifier.create(ort, loadFile, { card });
  const image = await decodeImage(args.image, {}, classifier.inputShape);
  const result = await classifier.classify(image);
  if (args.json) {
    const r = result.rectified;
    out.write(JSON.stringify({
      classId: result.classId, probabilities: Array.from(result.probabilities), logits: Array.from(result.logits),
      rectified: r && { width: r.width, height: r.height, channels: r.channels, data: Array.from(r.data) },
    }) + "\n");
  } else {
    out.write(`class ${result.classId} (probability ${result.probabilities[result.classId].toFixed(4)})\n`);
  }
  await classifier.release();
}
