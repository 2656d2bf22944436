// The captioner in the Node.js example (export/node/example.mjs): its options and output.

import { resizeImage } from "../../driver/resize.mjs";
import { Captioner } from "./driver.mjs";

export const WHAT = "a captioner";

/** The options it reads: `{name: {value (in the usage line), default (undefined: required)}}`. */
export const OPTIONS = { image: { value: "FILE", default: undefined }, beam: { value: "K", default: "1" } };

/**
 * Prints the caption of --image (with --json, the whole caption: tokens, words, attention, ...).
 * @param {Object} ort onnxruntime-node
 * @param {import("../../driver/load.mjs").LoadFile} loadFile reads a file of the version folder
 * @param {Object} card the version's model card
 * @param {Object} args the options, defaults filled in (strings)
 * @param {{write: function(string)}} out where to print
 * @param {{integer: function, decodeImage: function}} tools the example's option readers and
 *   image decoder
 */
export async function run(ort, loadFile, card, args, out, { integer, decodeImage }) {
  const captioner = await Captioner.create(ort, loadFile, { card });
  const beam = integer(args.beam, "beam");
  try {
    captioner.check({ beam });  // before the image is read
  } catch (e) {
    throw new Error(`--${e.message}`);  // "--beam must be between ...": the option as typed
  }
  let image = await decodeImage(args.image, captioner.limits);
  const s = captioner.imageSize;
  if (image.width !== s || image.height !== s) image = resizeImage(image, s);
  const result = await captioner.caption(image, { beam });
  if (args.json) {
    out.write(JSON.stringify({ ...result, attention: result.attention.map((a) => Array.from(a)) }) + "\n");
  } else {
    out.write(`${result.text}\n`);
  }
  await captioner.release();
}
