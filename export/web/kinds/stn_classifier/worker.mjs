// The page's requests a digit classifier answers, in the page's Web Worker (see worker.mjs):
//   {type: "classify", image} -> {type: "classified", probabilities, classId, rectified}
// `image` is {data: RGBA Uint8ClampedArray, width, height} at the model's input size.

import { STNClassifier } from "./driver.mjs";

/** The model of a version: an `STNClassifier`. */
export function load(ort, loadFile, card) {
  return STNClassifier.create(ort, loadFile, { card });
}

/** Request type -> (model, message) => its answer. */
export const requests = {
  async classify(model, { image }) {
    const { probabilities, classId, rectified } = await model.classify(image);
    return { type: "classified", probabilities: Array.from(probabilities), classId, rectified };
  },
};
